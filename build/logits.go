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
	fs := flags("logits", "(--model DIR | --pack DIR [--expert NAME | --mix a:0.3,b:0.7]) --ids 1,2,3 --out FILE [--engine cpu|gpu]", stderr)
	src := addSourceFlags(fs)
	engine := addEngineFlag(fs)
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
	// Logits are reference numbers: the GPU engine holds W' in float32, as the CPU engine.
	e, m, closeEngine, err := openEngine(*engine, src, engineOptions{Context: max(len(ids), 1), MergedF32: true}, stderr)
	if err != nil {
		return err
	}
	defer closeEngine()
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	row := make([]float32, m.Config.VocabSize)
	buf := make([]byte, 4*len(row))
	// One forward pass, or passes of logitsChunkBytes of logits each through the KV
	// cache when all rows at once would pass a GPU's storage binding limit.
	chunk := max(1, logitsChunkBytes/len(buf))
	if len(ids) <= chunk {
		chunk = len(ids)
	}
	var b model.Batch
	for lo := 0; lo < len(ids); lo += chunk {
		hi := min(lo+chunk, len(ids))
		b.Reset()
		for i := lo; i < hi; i++ {
			b.Add(ids[i], i, 0, true)
		}
		if err := e.Forward(&b); err != nil {
			f.Close()
			return err
		}
		for i := range hi - lo {
			if err := e.Logits(row, i); err != nil {
				f.Close()
				return err
			}
			for j, v := range row {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(v))
			}
			w.Write(buf)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// logitsChunkBytes bounds the logits of one forward pass of t2 logits (a GPU binding
// may hold only 128 MiB).
const logitsChunkBytes = 64 << 20

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
