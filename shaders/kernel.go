package shaders

import (
	"embed"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/gogpu/gputypes"
	"github.com/gogpu/wgpu"
)

//go:embed *.wgsl
var wgslFiles embed.FS

// WGSL returns the source of one embedded kernel file, e.g. "rmsnorm.wgsl".
func WGSL(file string) (string, error) {
	b, err := wgslFiles.ReadFile(file)
	return string(b), err
}

// kernelDef names one compute entry point: the files concatenated into its module (in
// order; helpers first), its entry and its bindings. Binding 0 is always the uniform
// Params; binds[i] describes binding i+1: 'r' read-only storage, 'w' read-write
// storage, '-' a binding of the module this entry does not use (files holding several
// entries give each variable its own binding number).
type kernelDef struct {
	files []string
	entry string
	binds string
}

// kernelKey identifies a compiled pipeline: a kernel and the values of its tunables.
type kernelKey struct {
	def       *kernelDef
	overrides string
}

type kernel struct {
	label    string
	module   *wgpu.ShaderModule
	bgl      *wgpu.BindGroupLayout
	layout   *wgpu.PipelineLayout
	pipeline *wgpu.ComputePipeline
	def      *kernelDef
}

func (k *kernel) release() {
	if k.pipeline != nil {
		k.pipeline.Release()
	}
	if k.layout != nil {
		k.layout.Release()
	}
	if k.bgl != nil {
		k.bgl.Release()
	}
	if k.module != nil {
		k.module.Release()
	}
}

// overrides set tunables of a kernel (its WGSL `override` declarations) by name.
type overrides map[string]float64

func (o overrides) key() string {
	names := make([]string, 0, len(o))
	for n := range o {
		names = append(names, n)
	}
	sort.Strings(names)
	var sb strings.Builder
	for _, n := range names {
		fmt.Fprintf(&sb, "%s=%g;", n, o[n])
	}
	return sb.String()
}

// specialize turns every `override NAME: T = default;` of src into a `const` with the
// value from o (or its default). gogpu/wgpu v0.31.5's Vulkan backend ignores
// ComputePipelineDescriptor.Constants (a TODO in hal/vulkan/pipeline.go), so tunables
// are applied to the source instead, the same way on every backend.
func specialize(src string, o overrides) (string, error) {
	used := map[string]bool{}
	var err error
	var sb strings.Builder
	last := 0
	for _, d := range findOverrides(src) {
		name, typ, val := d.name, d.typ, strings.TrimSpace(d.value)
		if v, ok := o[name]; ok {
			used[name] = true
			switch typ {
			case "u32":
				if v < 0 || v != math.Trunc(v) {
					err = fmt.Errorf("override %s: %g is not a u32", name, v)
				}
				val = strconv.FormatUint(uint64(v), 10) + "u"
			case "i32":
				val = strconv.FormatInt(int64(v), 10) + "i"
			case "f32":
				val = strconv.FormatFloat(v, 'e', -1, 32) + "f"
			case "bool":
				val = strconv.FormatBool(v != 0)
			default:
				err = fmt.Errorf("override %s: type %s unsupported", name, typ)
			}
		}
		sb.WriteString(src[last:d.start])
		sb.WriteString("const " + name + ": " + typ + " = " + val + ";")
		last = d.end
	}
	sb.WriteString(src[last:])
	for n := range o {
		if !used[n] && err == nil {
			err = fmt.Errorf("no override named %s", n)
		}
	}
	return sb.String(), err
}

// overrideDecl is one `override NAME: TYPE = VALUE;` declaration in WGSL source src:
// src[start:end] is all of it, through its ';', and value is the text up to that ';'
// from the first byte after '=' that is not a space, untrimmed (findOverrides says how
// a value of spaces alone is read).
type overrideDecl struct {
	start, end       int
	name, typ, value string
}

// findOverrides returns the override declarations of src in order. It finds exactly
// the matches, and their groups, of the regular expression
//
//	(?m)^override\s+(\w+)\s*:\s*(\w+)\s*=\s*([^;]+);
//
// as regexp's FindAllStringSubmatchIndex does:
//   - "override" at the start of src or right after a '\n' (a lone '\r' starts no
//     line: CRLF sources read like LF ones, while in lines ended by '\r' alone only
//     the first is searched);
//   - \s is one of ' ', '\t', '\n', '\f', '\r' (not '\v', nor a non-ASCII space), so a
//     declaration may span lines;
//   - \w is an ASCII letter, digit or '_';
//   - the value runs from after the spaces that follow '=' to the first ';', which may
//     lie lines further on; it is never empty: when only spaces stand between '=' and
//     ';', it is the last of them, and with nothing between them there is no match;
//   - after a declaration the search goes on at the next line start after its ';'.
//
// It is written by hand, not with regexp, to keep the standard regexp package out of
// the page's WebAssembly; override_test.go holds it to the expression above.
func findOverrides(src string) []overrideDecl {
	var ds []overrideDecl
	for i := 0; ; {
		if d, ok := overrideAt(src, i); ok {
			ds = append(ds, d)
			i = d.end
		}
		nl := strings.IndexByte(src[i:], '\n')
		if nl < 0 {
			return ds
		}
		i += nl + 1
	}
}

// overrideAt reads the override declaration that starts at src[i], if one does.
func overrideAt(src string, i int) (overrideDecl, bool) {
	const keyword = "override"
	if !strings.HasPrefix(src[i:], keyword) {
		return overrideDecl{}, false
	}
	j := i + len(keyword)
	k := skipSpace(src, j)
	if k == j {
		return overrideDecl{}, false
	}
	name, k := word(src, k)
	if name == "" {
		return overrideDecl{}, false
	}
	if k = skipSpace(src, k); k == len(src) || src[k] != ':' {
		return overrideDecl{}, false
	}
	typ, k := word(src, skipSpace(src, k+1))
	if typ == "" {
		return overrideDecl{}, false
	}
	if k = skipSpace(src, k); k == len(src) || src[k] != '=' {
		return overrideDecl{}, false
	}
	v := skipSpace(src, k+1)
	n := strings.IndexByte(src[v:], ';')
	switch {
	case n < 0:
		return overrideDecl{}, false
	case n == 0 && v == k+1:
		return overrideDecl{}, false
	case n == 0:
		v, n = v-1, 1 // the space before the ';' is the value
	}
	return overrideDecl{start: i, end: v + n + 1, name: name, typ: typ, value: src[v : v+n]}, true
}

// skipSpace returns the index of the first byte at or after src[i] that is not a space
// in the sense of regexp's \s: ' ', '\t', '\n', '\f' or '\r'.
func skipSpace(src string, i int) int {
	for i < len(src) {
		switch src[i] {
		case ' ', '\t', '\n', '\f', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// word returns the run of word bytes in the sense of regexp's \w (ASCII letters, digits
// and '_') that starts at src[i], and the index just after it.
func word(src string, i int) (string, int) {
	j := i
	for j < len(src) && isWord(src[j]) {
		j++
	}
	return src[i:j], j
}

func isWord(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// source is the specialized WGSL of a kernel.
func (def *kernelDef) source(o overrides) (string, error) {
	var sb strings.Builder
	for _, f := range def.files {
		b, err := wgslFiles.ReadFile(f)
		if err != nil {
			return "", err
		}
		sb.Write(b)
		sb.WriteByte('\n')
	}
	src, err := specialize(sb.String(), o)
	if err != nil {
		return "", fmt.Errorf("%s: %w", def.files[len(def.files)-1], err)
	}
	return src, nil
}

// kernel returns the pipeline of def with overrides o, compiling it on first use.
func (d *Device) kernel(def *kernelDef, o overrides) (*kernel, error) {
	key := kernelKey{def, o.key()}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.released {
		return nil, fmt.Errorf("shaders: device closed")
	}
	if k := d.kernels[key]; k != nil {
		return k, nil
	}
	label := strings.TrimSuffix(def.files[len(def.files)-1], ".wgsl") + ":" + def.entry
	src, err := def.source(o)
	if err != nil {
		return nil, fmt.Errorf("shaders: kernel %s: %w", label, err)
	}
	k := &kernel{label: label, def: def}
	fail := func(what string, err error) (*kernel, error) {
		k.release()
		return nil, fmt.Errorf("shaders: kernel %s: %s: %w", label, what, err)
	}
	if k.module, err = d.dev.CreateShaderModule(&wgpu.ShaderModuleDescriptor{Label: label, WGSL: src}); err != nil {
		return fail("compile WGSL", err)
	}
	entries := []wgpu.BindGroupLayoutEntry{{Binding: 0, Visibility: wgpu.ShaderStageCompute,
		Buffer: &gputypes.BufferBindingLayout{Type: gputypes.BufferBindingTypeUniform}}}
	for i, c := range def.binds {
		if c == '-' {
			continue
		}
		t := gputypes.BufferBindingTypeReadOnlyStorage
		if c == 'w' {
			t = gputypes.BufferBindingTypeStorage
		}
		entries = append(entries, wgpu.BindGroupLayoutEntry{Binding: uint32(i + 1), Visibility: wgpu.ShaderStageCompute,
			Buffer: &gputypes.BufferBindingLayout{Type: t}})
	}
	if k.bgl, err = d.dev.CreateBindGroupLayout(&wgpu.BindGroupLayoutDescriptor{Label: label, Entries: entries}); err != nil {
		return fail("bind group layout", err)
	}
	if k.layout, err = d.dev.CreatePipelineLayout(&wgpu.PipelineLayoutDescriptor{Label: label, BindGroupLayouts: []*wgpu.BindGroupLayout{k.bgl}}); err != nil {
		return fail("pipeline layout", err)
	}
	if k.pipeline, err = d.dev.CreateComputePipeline(&wgpu.ComputePipelineDescriptor{
		Label: label, Layout: k.layout, Module: k.module, EntryPoint: def.entry}); err != nil {
		return fail("pipeline", err)
	}
	d.kernels[key] = k
	return k, nil
}

// Batch is a recorded sequence of kernels, copies and clears, submitted as one command
// buffer. Shapes and the other uniform values are fixed when a step is recorded;
// recording errors (a kernel that fails to compile, a dispatch beyond the device's
// limits) are kept and returned by Submit. Mismatched shapes are programming errors and
// panic. A Batch may be submitted many times; the buffers it uses must outlive it.
type Batch struct {
	d      *Device
	label  string
	steps  []step
	params []byte // uniform values of all kernel steps, each at an aligned offset
	uni    *wgpu.Buffer
	built  bool
	err    error
}

type step struct {
	k      *kernel
	bufs   []*Buffer
	off    uint64 // of its Params in the uniform buffer
	size   uint64
	groups [3]uint32
	bg     *wgpu.BindGroup

	// a transfer instead of a kernel: clear dst, or copy src to dst
	src, dst        *Buffer
	srcOff, dstOff  uint64
	transferN       uint64
	isCopy, isClear bool
}

// NewBatch starts an empty batch.
func (d *Device) NewBatch(label string) *Batch { return &Batch{d: d, label: label} }

// Err is the first recording error.
func (b *Batch) Err() error { return b.err }

// Len is the number of recorded steps.
func (b *Batch) Len() int { return len(b.steps) }

// Dispatches is the number of recorded kernel dispatches (the steps that are not copies
// or clears).
func (b *Batch) Dispatches() int {
	n := 0
	for _, s := range b.steps {
		if s.k != nil {
			n++
		}
	}
	return n
}

// dispatch records one kernel: its uniform words, its storage buffers in binding
// order, and its workgroup grid.
func (b *Batch) dispatch(def *kernelDef, o overrides, params []uint32, bufs []*Buffer, gx, gy, gz int) {
	b.recording()
	if n := len(def.binds) - strings.Count(def.binds, "-"); len(bufs) != n {
		panic(fmt.Sprintf("shaders: %s: %d buffers for %d bindings", def.entry, len(bufs), n))
	}
	for i, buf := range bufs {
		if buf == nil || buf.raw == nil {
			panic(fmt.Sprintf("shaders: %s: buffer %d is nil or released", def.entry, i+1))
		}
	}
	if b.err != nil {
		return
	}
	k, err := b.d.kernel(def, o)
	if err != nil {
		b.err = err
		return
	}
	if gx == 0 || gy == 0 || gz == 0 {
		return // nothing to do
	}
	lim := int(b.d.limits.MaxComputeWorkgroupsPerDimension)
	if gx > lim || gy > lim || gz > lim {
		b.err = fmt.Errorf("shaders: %s: grid %d×%d×%d exceeds the device's %d workgroups per dimension", k.label, gx, gy, gz, lim)
		return
	}
	align := uint64(max(b.d.limits.MinUniformBufferOffsetAlignment, 16))
	off := (uint64(len(b.params)) + align - 1) / align * align
	size := (uint64(4*len(params)) + 15) &^ 15
	b.params = append(b.params, make([]byte, off+size-uint64(len(b.params)))...)
	for i, v := range params {
		putU32(b.params[off+uint64(4*i):], v)
	}
	b.steps = append(b.steps, step{k: k, bufs: bufs, off: off, size: size,
		groups: [3]uint32{uint32(gx), uint32(gy), uint32(gz)}})
}

// CopyBuffer records a transfer of n bytes from src at srcOff to dst at dstOff (all
// multiples of 4).
func (b *Batch) CopyBuffer(dst *Buffer, dstOff uint64, src *Buffer, srcOff uint64, n uint64) {
	b.recording()
	if srcOff%4 != 0 || dstOff%4 != 0 || n%4 != 0 || srcOff+n > src.size || dstOff+n > dst.size {
		panic(fmt.Sprintf("shaders: CopyBuffer: %d bytes %q[%d:] → %q[%d:] (sizes %d, %d)", n, src.label, srcOff, dst.label, dstOff, src.size, dst.size))
	}
	b.steps = append(b.steps, step{isCopy: true, src: src, dst: dst, srcOff: srcOff, dstOff: dstOff, transferN: n})
}

// Clear records zeroing n bytes of dst from offset (multiples of 4); n = 0 clears to
// the end.
func (b *Batch) Clear(dst *Buffer, offset, n uint64) {
	b.recording()
	if n == 0 {
		n = dst.size - offset
	}
	if offset%4 != 0 || n%4 != 0 || offset+n > dst.size {
		panic(fmt.Sprintf("shaders: Clear: %d bytes at %d of %q (%d bytes)", n, offset, dst.label, dst.size))
	}
	b.steps = append(b.steps, step{isClear: true, dst: dst, dstOff: offset, transferN: n})
}

func (b *Batch) recording() {
	if b.built {
		panic("shaders: Batch " + b.label + ": recording after the first Submit (call Reset)")
	}
}

// build uploads the uniform values and makes the bind groups.
func (b *Batch) build() error {
	d := b.d
	if len(b.params) > 0 {
		var err error
		b.uni, err = d.dev.CreateBuffer(&wgpu.BufferDescriptor{Label: b.label + ".params",
			Size: uint64(len(b.params)), Usage: wgpu.BufferUsageUniform | wgpu.BufferUsageCopyDst})
		if err != nil {
			return fmt.Errorf("shaders: batch %s: uniform buffer: %w", b.label, err)
		}
		if err := d.queue.WriteBuffer(b.uni, 0, b.params); err != nil {
			return fmt.Errorf("shaders: batch %s: uniform buffer: %w", b.label, err)
		}
	}
	for i := range b.steps {
		s := &b.steps[i]
		if s.k == nil {
			continue
		}
		entries := []wgpu.BindGroupEntry{{Binding: 0, Buffer: b.uni, Offset: s.off, Size: s.size}}
		j := 0
		for slot, c := range s.k.def.binds {
			if c == '-' {
				continue
			}
			buf := s.bufs[j]
			j++
			entries = append(entries, wgpu.BindGroupEntry{Binding: uint32(slot + 1), Buffer: buf.raw, Size: buf.size})
		}
		bg, err := d.dev.CreateBindGroup(&wgpu.BindGroupDescriptor{Label: s.k.label, Layout: s.k.bgl, Entries: entries})
		if err != nil {
			return fmt.Errorf("shaders: batch %s: step %d (%s): bind group: %w", b.label, i, s.k.label, err)
		}
		s.bg = bg
	}
	b.built = true
	return nil
}

// Adopt builds b, recorded and not yet submitted, from old, a built batch of the same
// kernels on the same buffers at the same uniform offsets, step for step (the same pass
// recorded for another number of rows): b takes old's uniform buffer, overwritten with
// b's values, and its bind groups instead of making its own. In the page a bind group is
// a call into the browser, and a forward pass of the demo model makes about a hundred
// (8–50 ms on SwiftShader). The write is queued after whatever old was submitted with, so
// passes in flight read their own values. old is left empty: it must be released, not
// submitted again. Adopt reports false, and changes neither, when the two differ.
func (b *Batch) Adopt(old *Batch) bool {
	if b.built || b.err != nil || old == b || !old.built || old.err != nil ||
		len(old.steps) != len(b.steps) || len(old.params) != len(b.params) {
		return false
	}
	for i := range b.steps {
		s, o := &b.steps[i], &old.steps[i]
		if s.k != o.k || s.off != o.off || s.size != o.size || len(s.bufs) != len(o.bufs) {
			return false
		}
		for j := range s.bufs {
			if s.bufs[j] != o.bufs[j] {
				return false
			}
		}
	}
	if len(b.params) > 0 {
		if err := b.d.queue.WriteBuffer(old.uni, 0, b.params); err != nil {
			return false
		}
	}
	for i := range b.steps {
		b.steps[i].bg, old.steps[i].bg = old.steps[i].bg, nil
	}
	b.uni, old.uni = old.uni, nil
	b.built, old.built = true, false
	return true
}

// Submit sends the batch to the GPU without waiting for it; Device.Read and
// Device.Sync wait.
func (b *Batch) Submit() error {
	if b.err != nil {
		return b.err
	}
	if !b.built {
		if err := b.build(); err != nil {
			b.err = err
			return err
		}
	}
	d := b.d
	enc, err := d.dev.CreateCommandEncoder(&wgpu.CommandEncoderDescriptor{Label: b.label})
	if err != nil {
		return fmt.Errorf("shaders: batch %s: %w", b.label, err)
	}
	var pass *wgpu.ComputePassEncoder
	endPass := func() error {
		if pass == nil {
			return nil
		}
		err := pass.End()
		pass = nil
		return err
	}
	for i := range b.steps {
		s := &b.steps[i]
		switch {
		case s.isCopy:
			if err := endPass(); err != nil {
				return fmt.Errorf("shaders: batch %s: %w", b.label, err)
			}
			enc.CopyBufferToBuffer(s.src.raw, s.srcOff, s.dst.raw, s.dstOff, s.transferN)
		case s.isClear:
			if err := endPass(); err != nil {
				return fmt.Errorf("shaders: batch %s: %w", b.label, err)
			}
			enc.ClearBuffer(s.dst.raw, s.dstOff, s.transferN)
		default:
			if pass == nil {
				if pass, err = enc.BeginComputePass(nil); err != nil {
					return fmt.Errorf("shaders: batch %s: %w", b.label, err)
				}
			}
			pass.SetPipeline(s.k.pipeline)
			pass.SetBindGroup(0, s.bg, nil)
			pass.Dispatch(s.groups[0], s.groups[1], s.groups[2])
		}
	}
	if err := endPass(); err != nil {
		return fmt.Errorf("shaders: batch %s: %w", b.label, err)
	}
	cmd, err := enc.Finish()
	if err != nil {
		return fmt.Errorf("shaders: batch %s: %w", b.label, err)
	}
	if _, err := d.queue.Submit(cmd); err != nil {
		return fmt.Errorf("shaders: batch %s: submit: %w", b.label, err)
	}
	return nil
}

// Run submits the batch and waits for it.
func (b *Batch) Run() error {
	if err := b.Submit(); err != nil {
		return err
	}
	return b.d.Sync()
}

// Reset forgets the recorded steps so the batch can be recorded again.
func (b *Batch) Reset() {
	b.Release()
	*b = Batch{d: b.d, label: b.label}
}

// Release frees the batch's uniform buffer and bind groups.
func (b *Batch) Release() {
	for i := range b.steps {
		if b.steps[i].bg != nil {
			b.steps[i].bg.Release()
			b.steps[i].bg = nil
		}
	}
	if b.uni != nil {
		b.uni.Release()
		b.uni = nil
	}
	b.built = false
}

// Sync waits until the GPU has finished everything submitted. It reads four bytes
// back (a map waits for every earlier submission on both backends; the browser's
// WaitIdle is a no-op), so in the page it must not run inside a js.FuncOf callback.
func (d *Device) Sync() error {
	var p [4]byte
	if err := d.Read(d.dummy, 0, p[:]); err != nil {
		return fmt.Errorf("shaders: wait: %w", err)
	}
	return nil
}

func putU32(p []byte, v uint32) {
	p[0], p[1], p[2], p[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

// f32 is the uniform word of a float.
func f32(v float64) uint32 { return math.Float32bits(float32(v)) }

// grid1 splits n workgroups over x and y so neither exceeds the per-dimension limit;
// kernels rebuild the flat index as (id.y·num_workgroups.x + id.x).
func (b *Batch) grid1(n int) (gx, gy int) {
	lim := int(b.d.limits.MaxComputeWorkgroupsPerDimension)
	if n <= lim {
		return n, 1
	}
	gy = (n + lim - 1) / lim
	return (n + gy - 1) / gy, gy
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
