package svf

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/t2web/t2web/svf/tasks"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/t2web/t2web/model/safetensors"
)

// Expert is an SVF expert (ARCHITECTURE §1): one vector z[R] per adapted matrix, which
// rescales that matrix's singular values. Files store z, never the training parameters p.
type Expert struct {
	Name        string
	Domain      string   // the task domain it was trained for ("math", …), "" for none
	Description string   // one line for people
	Trained     string   // how it was made, e.g. "uniform 1", "REINFORCE on math, 200 steps"
	Score       *float64 // validation score, nil when not measured
	// Z maps every adapted matrix of the pack (name without ".weight") to its z[R].
	Z map[string][]float32
	// MixOf and Alpha record how a mixture was made, z = Σ_k Alpha[k]·z of MixOf[k]
	// (Alpha[k] one value, or one per adapted matrix: see Mix), so that it can say so
	// after a reload or an import; nil for any other expert.
	MixOf []string
	Alpha [][]float64
}

// ExpertInfo is one entry of experts/index.json.
type ExpertInfo struct {
	Name        string   `json:"name"`
	File        string   `json:"file"` // relative to experts/
	Domain      string   `json:"domain,omitempty"`
	Description string   `json:"description,omitempty"`
	Trained     string   `json:"trained,omitempty"`
	Score       *float64 `json:"score"`
	SHA256      string   `json:"sha256"`
}

// ExpertIndex is experts/index.json.
type ExpertIndex struct {
	Experts []ExpertInfo `json:"experts"`
}

// ExpertIndexFile is the path of a pack's expert index inside its folder.
const ExpertIndexFile = expertDir + "/index.json"

const expertDir = "experts"

// ExpertFile is the path of an expert's file inside its pack's folder.
func ExpertFile(info ExpertInfo) string { return path.Join(expertDir, info.File) }

// CheckName tells whether name can name an expert (and its file): letters, digits,
// '_', '.', '-', starting with a letter or digit, at most 64 characters.
func CheckName(name string) error {
	if !isExpertName(name) {
		return fmt.Errorf("svf: expert name %q: use letters, digits, '_', '.', '-' (at most 64, starting with a letter or digit)", name)
	}
	return nil
}

// isExpertName tells whether name is what the regular expression
//
//	^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$
//
// matches: an ASCII letter or digit, then at most 63 ASCII letters, digits, '_', '.'
// or '-', and nothing else (1 to 64 bytes; Go's $ matches at the end of the text only,
// so not before a final '\n'). It is written by hand, not with regexp, to keep the
// standard regexp package out of the page's WebAssembly; expert_test.go holds it to the
// expression.
func isExpertName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			return false
		}
	}
	return true
}

// Encode writes the expert as safetensors: one F32 tensor [R] per matrix, the card in
// the metadata.
func (e *Expert) Encode() ([]byte, error) {
	names := make([]string, 0, len(e.Z))
	for name := range e.Z {
		names = append(names, name)
	}
	slices.Sort(names)
	var ts []safetensors.Tensor
	for _, name := range names {
		ts = append(ts, safetensors.Float32Tensor(name, e.Z[name], []int{len(e.Z[name])}))
	}
	meta := map[string]string{"format": "t2web-expert", "name": e.Name, "domain": e.Domain,
		"description": e.Description, "trained": e.Trained}
	if e.Score != nil {
		meta["score"] = strconv.FormatFloat(*e.Score, 'g', -1, 64)
	}
	if len(e.MixOf) > 0 {
		if len(e.Alpha) != len(e.MixOf) {
			return nil, fmt.Errorf("svf: expert %s: %d α for a mixture of %d experts", e.Name, len(e.Alpha), len(e.MixOf))
		}
		alpha, err := json.Marshal(e.Alpha)
		if err != nil {
			return nil, fmt.Errorf("svf: expert %s: α: %w", e.Name, err)
		}
		meta["mix_of"], meta["alpha"] = strings.Join(e.MixOf, ","), string(alpha)
	}
	var buf bytes.Buffer
	if err := safetensors.Write(&buf, ts, meta); err != nil {
		return nil, fmt.Errorf("svf: expert %s: %w", e.Name, err)
	}
	return buf.Bytes(), nil
}

// DecodeExpert reads an expert file; file names it in errors.
func DecodeExpert(data []byte, file string) (*Expert, error) {
	f, err := safetensors.Open(bytes.NewReader(data), int64(len(data)), file)
	if err != nil {
		return nil, fmt.Errorf("svf: expert: %w", err)
	}
	meta := f.Metadata()
	e := &Expert{Name: meta["name"], Domain: meta["domain"], Description: meta["description"],
		Trained: meta["trained"], Z: map[string][]float32{}}
	if s, ok := meta["score"]; ok && s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("svf: expert %s: metadata score %q is not a number", file, s)
		}
		e.Score = &v
	}
	if s := meta["mix_of"]; s != "" {
		e.MixOf = strings.Split(s, ",")
		if err := json.Unmarshal([]byte(meta["alpha"]), &e.Alpha); err != nil || len(e.Alpha) != len(e.MixOf) {
			return nil, fmt.Errorf("svf: expert %s: metadata alpha %q is not one list of α per expert of mix_of %q", file, meta["alpha"], s)
		}
	}
	for _, t := range f.Tensors() {
		if t.DType != safetensors.F32 || len(t.Shape) != 1 {
			return nil, fmt.Errorf("svf: expert %s: tensor %s is %s %v, want F32 [R]", file, t.Name, t.DType, t.Shape)
		}
		if e.Z[t.Name], err = f.Float32(t.Name); err != nil {
			return nil, fmt.Errorf("svf: expert %s: %w", file, err)
		}
		if i := slices.IndexFunc(e.Z[t.Name], func(v float32) bool { return math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) }); i >= 0 {
			return nil, fmt.Errorf("svf: expert %s: tensor %s: z[%d] is %v, want a finite number", file, t.Name, i, e.Z[t.Name][i])
		}
	}
	return e, nil
}

// Check tells whether e fits the pack: a z of the right length for every adapted
// matrix, and nothing else.
func (p *Pack) Check(e *Expert) error {
	for name, z := range e.Z {
		r, ok := p.Rank(name)
		if !ok {
			return fmt.Errorf("svf: expert %s: tensor %s: the pack does not adapt this matrix", e.Name, name)
		}
		if len(z) != r {
			return fmt.Errorf("svf: expert %s: tensor %s: z has %d values, the matrix has rank %d", e.Name, name, len(z), r)
		}
	}
	for _, name := range p.Manifest.Matrices {
		if _, ok := e.Z[name]; !ok {
			return fmt.Errorf("svf: expert %s: tensor %s is missing (the pack adapts it)", e.Name, name)
		}
	}
	return nil
}

// Uniform makes an expert with every z equal to value (a no-op on the weights, thanks to
// the nuclear-norm rescale, whatever the value).
func (p *Pack) Uniform(name string, value float32) *Expert {
	e := &Expert{Name: name, Trained: "uniform " + strconv.FormatFloat(float64(value), 'g', -1, 32), Z: map[string][]float32{}}
	for _, m := range p.Manifest.Matrices {
		z := make([]float32, p.rank(m))
		for i := range z {
			z[i] = value
		}
		e.Z[m] = z
	}
	return e
}

// Experts lists the pack's experts (none when it has no experts/index.json).
func (p *Pack) Experts() ([]ExpertInfo, error) {
	data, err := fs.ReadFile(p.FS(), ExpertIndexFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pack: %w", err)
	}
	var idx ExpertIndex
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("pack: %s: %w", ExpertIndexFile, err)
	}
	return idx.Experts, nil
}

// Expert reads the named expert of the pack, checking its sha256 and its fit.
func (p *Pack) Expert(name string) (*Expert, error) {
	list, err := p.Experts()
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(list, func(e ExpertInfo) bool { return e.Name == name })
	if i < 0 {
		names := make([]string, len(list))
		for j, e := range list {
			names[j] = e.Name
		}
		return nil, fmt.Errorf("pack: no expert %q (the pack has %v)", name, names)
	}
	file := ExpertFile(list[i])
	data, err := fs.ReadFile(p.FS(), file)
	if err != nil {
		return nil, fmt.Errorf("pack: expert %s: %w", name, err)
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != list[i].SHA256 {
		return nil, fmt.Errorf("pack: %s: sha256 %x does not match %s's %s", file, sum, ExpertIndexFile, list[i].SHA256)
	}
	e, err := DecodeExpert(data, file)
	if err != nil {
		return nil, err
	}
	if err := p.Check(e); err != nil {
		return nil, err
	}
	return e, nil
}

// SaveExpert writes e into the pack folder dir (experts/NAME.safetensors) and lists it in
// experts/index.json, replacing an expert of the same name.
func SaveExpert(dir string, p *Pack, e *Expert) error {
	if err := CheckName(e.Name); err != nil {
		return err
	}
	if err := p.Check(e); err != nil {
		return err
	}
	data, err := e.Encode()
	if err != nil {
		return err
	}
	list, err := p.Experts()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dir, expertDir), 0o755); err != nil {
		return err
	}
	file := e.Name + ".safetensors"
	if err := WriteFileAtomic(filepath.Join(dir, expertDir, file), data); err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	info := ExpertInfo{Name: e.Name, File: file, Domain: e.Domain, Description: e.Description,
		Trained: e.Trained, Score: e.Score, SHA256: hex.EncodeToString(sum[:])}
	list = slices.DeleteFunc(list, func(x ExpertInfo) bool { return x.Name == e.Name })
	list = append(list, info)
	slices.SortFunc(list, func(a, b ExpertInfo) int { return strings.Compare(a.Name, b.Name) })
	idx, err := json.MarshalIndent(ExpertIndex{Experts: list}, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, filepath.FromSlash(ExpertIndexFile)), append(idx, '\n'))
}

// WriteFileAtomic writes data to a temporary file beside name and renames it over name,
// so a reader never sees half a file: SaveExpert's files, and svf/learn's checkpoints.
func WriteFileAtomic(name string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".tmp-"+filepath.Base(name))
	if err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), name)
}

// DomainExperts returns the pack's experts but the classification one: what a new
// expert may start from (ReinforceOptions.Starts), and what few-shot adaptation mixes.
func (p *Pack) DomainExperts() ([]*Expert, error) {
	infos, err := p.Experts()
	if err != nil {
		return nil, err
	}
	var out []*Expert
	for _, info := range infos {
		if info.Domain == tasks.Cls {
			continue
		}
		x, err := p.Expert(info.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}
