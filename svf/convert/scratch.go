package convert

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/t2web/t2web/model/safetensors"
)

// A conversion keeps each adapted matrix's pack tensors (its quantised U, S and V,
// exactly as they go into a shard) in a scratch file as soon as the matrix is
// decomposed:
//
//	OUT/.convert-scratch/NAME.safetensors    metadata: input = scratchKey, groups = "3,1,3"
//
// An interrupted conversion run again with the same checkpoint and options finds them
// and decomposes only the others; the shards are then written from these files, so the
// pack has the same bytes as an uninterrupted run. The folder is removed once
// pack.json is written. A file whose key does not match (another checkpoint, other
// options, another decomposition method) or that does not parse is decomposed again.
const scratchDir = ".convert-scratch"

// decomposeMethod names Decompose's algorithm in scratch keys: change it when the
// factors Decompose returns change, so scratch files of the old method are not reused.
const decomposeMethod = "gram-ql-1"

// scratchKey is the hex SHA-256 of what a matrix's pack tensors depend on: the method
// (decomposeMethod, or "supplied" for factors given by Options.Factors), the
// quantisation options, and the matrix W[m,n] itself.
func scratchKey(method string, w []float32, m, n int, quant string, exact int) string {
	h := sha256.New()
	fmt.Fprintf(h, "t2web svf scratch\n%s\n%s\n%d\n%d×%d\n", method, quant, exact, m, n)
	var buf [4096]byte
	for i := 0; i < len(w); {
		k := 0
		for ; k+4 <= len(buf) && i < len(w); i, k = i+1, k+4 {
			binary.LittleEndian.PutUint32(buf[k:], math.Float32bits(w[i]))
		}
		h.Write(buf[:k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func scratchPath(outDir, matrix string) string {
	return filepath.Join(outDir, scratchDir, matrix+".safetensors")
}

// writeScratch stores a matrix's tensor groups (each added to the pack together) under
// key, through a temporary file renamed into place, so a file that exists is complete.
func writeScratch(path, key string, groups [][]safetensors.Tensor) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	var all []safetensors.Tensor
	sizes := make([]string, len(groups))
	for i, g := range groups {
		all = append(all, g...)
		sizes[i] = strconv.Itoa(len(g))
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	err = safetensors.Write(tmp, all, map[string]string{"input": key, "groups": strings.Join(sizes, ",")})
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("svf: scratch %s: %w", path, err)
	}
	return nil
}

// readScratch returns the tensor groups stored at path under key; ok is false when
// there is no such file, or it holds another key, or it does not parse.
func readScratch(path, key string) (groups [][]safetensors.Tensor, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, false
	}
	sf, err := safetensors.Open(f, st.Size(), path)
	if err != nil {
		return nil, false
	}
	meta := sf.Metadata()
	if meta["input"] != key {
		return nil, false
	}
	infos := sf.Tensors()
	next := 0
	for _, field := range strings.Split(meta["groups"], ",") {
		n, err := strconv.Atoi(field)
		if err != nil || n <= 0 || next+n > len(infos) {
			return nil, false
		}
		var g []safetensors.Tensor
		for _, info := range infos[next : next+n] {
			data, err := sf.Raw(info.Name)
			if err != nil {
				return nil, false
			}
			g = append(g, safetensors.Tensor{Name: info.Name, DType: info.DType, Shape: info.Shape, Data: data})
		}
		groups = append(groups, g)
		next += n
	}
	if next != len(infos) {
		return nil, false
	}
	return groups, true
}
