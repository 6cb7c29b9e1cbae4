package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/t2web/t2web/model"
)

// cmdLogits writes the logits of every position of a token sequence, float32
// little-endian, row-major [len(ids), V].
func cmdLogits(args []string, stdout, stderr io.Writer) error {
	fs := flags("logits", "(--model DIR | --pack DIR [--expert NAME | --mix a:0.3,b:0.7]) --ids 1,2,3 --out FILE", stderr)
	src := addSourceFlags(fs)
	idList := fs.String("ids", "", "comma-separated token `ids`")
	out := fs.String("out", "", "output `file`")
	if err := parse(fs, args); err != nil {
		return err
	}
	if !src.given() || *idList == "" || *out == "" || fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	ids, err := parseIDs(*idList)
	if err != nil {
		return err
	}
	m, err := src.load()
	if err != nil {
		return err
	}
	e, err := model.NewCPU(m, model.CPUOptions{Context: min(m.Config.MaxPositions, max(len(ids), 1))})
	if err != nil {
		return err
	}
	var b model.Batch
	for i, id := range ids {
		b.Add(id, i, 0, true)
	}
	if err := e.Forward(&b); err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	row := make([]float32, m.Config.VocabSize)
	buf := make([]byte, 4*len(row))
	for i := range ids {
		if err := e.Logits(row, i); err != nil {
			f.Close()
			return err
		}
		for j, v := range row {
			binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(v))
		}
		w.Write(buf)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// parseIDs reads "1,2,3".
func parseIDs(s string) ([]int, error) {
	var ids []int
	for i, part := range strings.Split(s, ",") {
		id, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || id < 0 {
			return nil, fmt.Errorf("--ids: item %d %q is not a token id", i+1, part)
		}
		ids = append(ids, id)
	}
	return ids, nil
}
