package shaders

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gogpu/gputypes"
	"github.com/gogpu/wgpu"

	"github.com/t2web/t2web/model/safetensors"
)

// ErrNoAdapter says that no GPU adapter of the asked kind exists on this machine.
var ErrNoAdapter = errors.New("shaders: no GPU adapter")

// needs are the device limits the kernels rely on; Open fails with a message naming
// the first one the adapter does not meet. They are WebGPU's defaults, which every
// conforming adapter meets, so a failure means a broken or unusual driver.
var needs = struct {
	WorkgroupStorage    uint32 // bytes of var<workgroup> (kernels use up to 8 KiB)
	InvocationsPerGroup uint32 // threads per workgroup (kernels use up to 256)
	WorkgroupSizeX      uint32
	StorageBuffers      uint32 // storage bindings in one kernel (recompose_q8 uses 7)
	StorageBindingSize  uint64 // one binding; larger tensors must be split by the caller
	UniformBindingSize  uint64
	WorkgroupsPerDim    uint32
}{16384, 256, 256, 8, 128 << 20, 16384, 65535}

// Device is an open GPU: the wgpu device and queue, the kernels compiled so far (one
// pipeline per kernel and tunable set) and a staging buffer for reads.
type Device struct {
	inst    *wgpu.Instance
	adapter *wgpu.Adapter
	dev     *wgpu.Device
	queue   *wgpu.Queue
	info    wgpu.AdapterInfo
	limits  wgpu.Limits

	mu       sync.Mutex
	kernels  map[kernelKey]*kernel
	matvec   overrides      // layout of the matvec kernels for this adapter
	rowsWide bool           // Q8 batches in rows.wgsl's 4×8 blocks (a browser's fallback adapter: SwiftShader)
	dummy    *Buffer        // bound where an optional input is absent
	staging  *wgpu.Buffer   // MapRead, grown on demand
	readPool []*wgpu.Buffer // MapRead buffers of ReadAsync not in use
	released bool
}

// cpuLayout says whether the device runs the kernels laid out for CPU adapters
// (lavapipe, SwiftShader: no barriers; matvecTuning).
func (d *Device) cpuLayout() bool { return d.matvec["LANES"] == 1 }

// open finishes Open once an adapter is chosen: device with the adapter's limits,
// checks of the limits the kernels need.
func open(inst *wgpu.Instance, adapter *wgpu.Adapter) (*Device, error) {
	lim := adapter.Limits()
	if err := checkLimits(lim); err != nil {
		return nil, fmt.Errorf("shaders: adapter %q (%s): %w", adapter.Info().Name, adapter.Info().Backend, err)
	}
	dev, err := adapter.RequestDevice(&wgpu.DeviceDescriptor{Label: "t2web", RequiredLimits: lim})
	if err != nil {
		return nil, fmt.Errorf("shaders: request device on %q: %w", adapter.Info().Name, err)
	}
	d := &Device{
		inst: inst, adapter: adapter, dev: dev, queue: dev.Queue(),
		info: adapter.Info(), limits: dev.Limits(), kernels: map[kernelKey]*kernel{},
		matvec: matvecTuning(adapter.Info().DeviceType == gputypes.DeviceTypeCPU),
	}
	if err := checkLimits(d.limits); err != nil {
		d.Close()
		return nil, fmt.Errorf("shaders: device on %q: %w", d.info.Name, err)
	}
	if d.dummy, err = d.NewBuffer("dummy", 16); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func checkLimits(l wgpu.Limits) error {
	switch n := needs; {
	case l.MaxComputeWorkgroupStorageSize < n.WorkgroupStorage:
		return fmt.Errorf("maxComputeWorkgroupStorageSize %d < %d bytes the kernels need", l.MaxComputeWorkgroupStorageSize, n.WorkgroupStorage)
	case l.MaxComputeInvocationsPerWorkgroup < n.InvocationsPerGroup:
		return fmt.Errorf("maxComputeInvocationsPerWorkgroup %d < %d", l.MaxComputeInvocationsPerWorkgroup, n.InvocationsPerGroup)
	case l.MaxComputeWorkgroupSizeX < n.WorkgroupSizeX:
		return fmt.Errorf("maxComputeWorkgroupSizeX %d < %d", l.MaxComputeWorkgroupSizeX, n.WorkgroupSizeX)
	case l.MaxStorageBuffersPerShaderStage < n.StorageBuffers:
		return fmt.Errorf("maxStorageBuffersPerShaderStage %d < %d", l.MaxStorageBuffersPerShaderStage, n.StorageBuffers)
	case l.MaxStorageBufferBindingSize < n.StorageBindingSize:
		return fmt.Errorf("maxStorageBufferBindingSize %d < %d bytes", l.MaxStorageBufferBindingSize, n.StorageBindingSize)
	case l.MaxUniformBufferBindingSize < n.UniformBindingSize:
		return fmt.Errorf("maxUniformBufferBindingSize %d < %d bytes", l.MaxUniformBufferBindingSize, n.UniformBindingSize)
	case l.MaxComputeWorkgroupsPerDimension < n.WorkgroupsPerDim:
		return fmt.Errorf("maxComputeWorkgroupsPerDimension %d < %d", l.MaxComputeWorkgroupsPerDimension, n.WorkgroupsPerDim)
	}
	return nil
}

// Info describes the adapter: name, driver, backend.
func (d *Device) Info() wgpu.AdapterInfo { return d.info }

// Limits are the device's limits (the adapter's, requested in full).
func (d *Device) Limits() wgpu.Limits { return d.limits }

// MaxBinding is the largest buffer one kernel binding may see, in bytes: tensors
// larger than this must be split across bindings by the caller.
func (d *Device) MaxBinding() uint64 {
	return min(d.limits.MaxStorageBufferBindingSize, d.limits.MaxBufferSize)
}

// Close releases the kernels, the device, the adapter and the instance. Buffers made
// by the device must be released before.
func (d *Device) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.released {
		return
	}
	d.released = true
	for _, k := range d.kernels {
		k.release()
	}
	d.kernels = nil
	if d.dummy != nil {
		d.dummy.Release()
	}
	if d.staging != nil {
		d.staging.Release()
	}
	for _, b := range d.readPool {
		b.Release()
	}
	d.readPool = nil
	if d.dev != nil {
		d.dev.Release()
	}
	if d.adapter != nil {
		d.adapter.Release()
	}
	if d.inst != nil {
		d.inst.Release()
	}
}

// Buffer is a storage buffer on the device, readable and writable by kernels and by
// copies. Its size is a multiple of 4 bytes.
type Buffer struct {
	raw   *wgpu.Buffer
	size  uint64
	label string
}

// NewBuffer makes a zeroed storage buffer of size bytes, rounded up to a multiple of 16
// (kernels may read any buffer as vec4 words). It fails, naming label and the limit, when
// size exceeds what one binding may hold.
func (d *Device) NewBuffer(label string, size uint64) (*Buffer, error) {
	size = max(16, (size+15)&^15)
	if lim := d.MaxBinding(); size > lim {
		return nil, fmt.Errorf("shaders: buffer %q: %d bytes exceed the device's %d-byte storage binding limit (split the tensor)", label, size, lim)
	}
	raw, err := d.dev.CreateBuffer(&wgpu.BufferDescriptor{
		Label: label, Size: size,
		Usage: wgpu.BufferUsageStorage | wgpu.BufferUsageCopySrc | wgpu.BufferUsageCopyDst,
	})
	if err != nil {
		return nil, fmt.Errorf("shaders: buffer %q (%d bytes): %w", label, size, err)
	}
	return &Buffer{raw: raw, size: size, label: label}, nil
}

// NewBufferF32 makes a buffer holding x.
func (d *Device) NewBufferF32(label string, x []float32) (*Buffer, error) {
	return d.newBufferBytes(label, safetensors.Float32Bytes(x))
}

// NewBufferU32 makes a buffer holding x.
func (d *Device) NewBufferU32(label string, x []uint32) (*Buffer, error) {
	return d.newBufferBytes(label, u32Bytes(x))
}

// newBufferBytes makes a buffer holding p.
func (d *Device) newBufferBytes(label string, p []byte) (*Buffer, error) {
	b, err := d.NewBuffer(label, uint64(len(p)))
	if err != nil {
		return nil, err
	}
	if err := d.Write(b, 0, p); err != nil {
		b.Release()
		return nil, err
	}
	return b, nil
}

// Size is the buffer's size in bytes.
func (b *Buffer) Size() uint64 { return b.size }

// Label is the buffer's name, as given to NewBuffer.
func (b *Buffer) Label() string { return b.label }

// Release frees the buffer once the GPU is done with it.
func (b *Buffer) Release() {
	if b != nil && b.raw != nil {
		b.raw.Release()
		b.raw = nil
	}
}

// Write copies p to b at offset (both multiples of 4 bytes) through the queue; it is
// ordered before any later Submit.
func (d *Device) Write(b *Buffer, offset uint64, p []byte) error {
	if offset%4 != 0 || len(p)%4 != 0 || offset+uint64(len(p)) > b.size {
		return fmt.Errorf("shaders: write %d bytes at %d to buffer %q of %d bytes: out of range or not 4-byte aligned", len(p), offset, b.label, b.size)
	}
	if len(p) == 0 {
		return nil
	}
	if err := d.queue.WriteBuffer(b.raw, offset, p); err != nil {
		return fmt.Errorf("shaders: write buffer %q: %w", b.label, err)
	}
	return nil
}

// WriteF32 copies x to b at byte offset.
func (d *Device) WriteF32(b *Buffer, offset uint64, x []float32) error {
	return d.Write(b, offset, safetensors.Float32Bytes(x))
}

// WriteU32 copies x to b at byte offset.
func (d *Device) WriteU32(b *Buffer, offset uint64, x []uint32) error {
	return d.Write(b, offset, u32Bytes(x))
}

// u32Bytes is x little-endian.
func u32Bytes(x []uint32) []byte {
	p := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(p[4*i:], v)
	}
	return p
}

// Read copies len(p) bytes of b from offset into p, waiting for every submitted batch.
func (d *Device) Read(b *Buffer, offset uint64, p []byte) error {
	n := uint64(len(p))
	if offset%4 != 0 || n%4 != 0 || offset+n > b.size {
		return fmt.Errorf("shaders: read %d bytes at %d from buffer %q of %d bytes: out of range or not 4-byte aligned", n, offset, b.label, b.size)
	}
	if n == 0 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.staging == nil || d.staging.Size() < n {
		if d.staging != nil {
			d.staging.Release()
		}
		var err error
		d.staging, err = d.dev.CreateBuffer(&wgpu.BufferDescriptor{
			Label: "staging", Size: max(n, 1<<16),
			Usage: wgpu.BufferUsageMapRead | wgpu.BufferUsageCopyDst,
		})
		if err != nil {
			d.staging = nil
			return fmt.Errorf("shaders: staging buffer of %d bytes: %w", n, err)
		}
	}
	enc, err := d.dev.CreateCommandEncoder(&wgpu.CommandEncoderDescriptor{Label: "read"})
	if err != nil {
		return fmt.Errorf("shaders: read %q: %w", b.label, err)
	}
	enc.CopyBufferToBuffer(b.raw, offset, d.staging, 0, n)
	cmd, err := enc.Finish()
	if err != nil {
		return fmt.Errorf("shaders: read %q: %w", b.label, err)
	}
	if _, err := d.queue.Submit(cmd); err != nil {
		return fmt.Errorf("shaders: read %q: submit: %w", b.label, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := d.staging.Map(ctx, wgpu.MapModeRead, 0, n); err != nil {
		return fmt.Errorf("shaders: read %q: map: %w", b.label, err)
	}
	rng, err := d.staging.MappedRange(0, n)
	if err != nil {
		_ = d.staging.Unmap()
		return fmt.Errorf("shaders: read %q: mapped range: %w", b.label, err)
	}
	copy(p, rng.Bytes())
	if err := d.staging.Unmap(); err != nil {
		return fmt.Errorf("shaders: read %q: unmap: %w", b.label, err)
	}
	return nil
}

// asyncReadBytes is the size of ReadAsync's staging buffers: the most one read brings.
const asyncReadBytes = 256

// PendingRead is a read in flight (ReadAsync); Wait brings its bytes.
type PendingRead struct {
	d    *Device
	buf  *wgpu.Buffer
	mp   *wgpu.MapPending
	n    uint64
	done bool
}

// ReadAsync starts reading n bytes (at most 256, a multiple of 4) of b from offset, after
// everything submitted so far, without waiting: the GPU may go on with work submitted
// later while the read is in flight. Wait (once) brings the bytes.
func (d *Device) ReadAsync(b *Buffer, offset, n uint64) (*PendingRead, error) {
	if offset%4 != 0 || n%4 != 0 || n == 0 || n > asyncReadBytes || offset+n > b.size {
		return nil, fmt.Errorf("shaders: async read of %d bytes at %d from buffer %q of %d bytes: out of range, not 4-byte aligned or over %d bytes", n, offset, b.label, b.size, asyncReadBytes)
	}
	d.mu.Lock()
	var st *wgpu.Buffer
	if k := len(d.readPool); k > 0 {
		st, d.readPool = d.readPool[k-1], d.readPool[:k-1]
	}
	d.mu.Unlock()
	if st == nil {
		var err error
		if st, err = d.dev.CreateBuffer(&wgpu.BufferDescriptor{Label: "async read", Size: asyncReadBytes,
			Usage: wgpu.BufferUsageMapRead | wgpu.BufferUsageCopyDst}); err != nil {
			return nil, fmt.Errorf("shaders: async read staging buffer: %w", err)
		}
	}
	fail := func(what string, err error) (*PendingRead, error) {
		st.Release()
		return nil, fmt.Errorf("shaders: async read %q: %s: %w", b.label, what, err)
	}
	enc, err := d.dev.CreateCommandEncoder(&wgpu.CommandEncoderDescriptor{Label: "async read"})
	if err != nil {
		return fail("encoder", err)
	}
	enc.CopyBufferToBuffer(b.raw, offset, st, 0, n)
	cmd, err := enc.Finish()
	if err != nil {
		return fail("encoder", err)
	}
	if _, err := d.queue.Submit(cmd); err != nil {
		return fail("submit", err)
	}
	mp, err := st.MapAsync(wgpu.MapModeRead, 0, n)
	if err != nil {
		return fail("map", err)
	}
	return &PendingRead{d: d, buf: st, mp: mp, n: n}, nil
}

// Wait blocks until the read is done and copies its bytes into p (len(p) ≤ the bytes
// asked for); in the page it must not run inside a js.FuncOf callback.
func (r *PendingRead) Wait(p []byte) error {
	if r.done {
		return fmt.Errorf("shaders: async read waited twice")
	}
	r.done = true
	err := r.d.waitMap(r.mp)
	if err == nil {
		var rng *wgpu.MappedRange
		if rng, err = r.buf.MappedRange(0, r.n); err == nil {
			copy(p, rng.Bytes())
		}
		if uerr := r.buf.Unmap(); err == nil {
			err = uerr
		}
	}
	if err != nil {
		r.buf.Release()
		return fmt.Errorf("shaders: async read: %w", err)
	}
	r.d.mu.Lock()
	if r.d.released {
		r.buf.Release()
	} else {
		r.d.readPool = append(r.d.readPool, r.buf)
	}
	r.d.mu.Unlock()
	return nil
}

// ReadF32 fills dst from b at byte offset.
func (d *Device) ReadF32(dst []float32, b *Buffer, offset uint64) error {
	p := make([]byte, 4*len(dst))
	if err := d.Read(b, offset, p); err != nil {
		return err
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))
	}
	return nil
}

// ReadU32 fills dst from b at byte offset.
func (d *Device) ReadU32(dst []uint32, b *Buffer, offset uint64) error {
	p := make([]byte, 4*len(dst))
	if err := d.Read(b, offset, p); err != nil {
		return err
	}
	for i := range dst {
		dst[i] = binary.LittleEndian.Uint32(p[4*i:])
	}
	return nil
}

// Q8 is an int8 matrix x[Rows, Cols] on the device: Q holds the values row-major, four
// per u32 word little-endian (byte index row*Cols+col, rows not padded); Scale holds
// f32 [Rows, ceil(Cols/32)], one per block of 32 consecutive elements of a row.
// x ≈ q·scale. With Row0 > 0 the matrix is rows Row0…Row0+Rows−1 of larger buffers (a
// matrix stacked with others); the kernels that take such views say so.
type Q8 struct {
	Q, Scale   *Buffer
	Rows, Cols int
	Row0       int
}

// Blocks is the number of 32-element scale blocks per row, ceil(Cols/32).
func (x Q8) Blocks() int { return (x.Cols + 31) / 32 }

// NewQ8 makes a zeroed Q8 matrix [rows, cols].
func (d *Device) NewQ8(label string, rows, cols int) (Q8, error) {
	q, err := d.NewBuffer(label+".q", uint64(rows*cols))
	if err != nil {
		return Q8{}, err
	}
	s, err := d.NewBuffer(label+".scale", uint64(4*rows*((cols+31)/32)))
	if err != nil {
		q.Release()
		return Q8{}, err
	}
	return Q8{Q: q, Scale: s, Rows: rows, Cols: cols}, nil
}

// WriteQ8 uploads q int8 [Rows*Cols] and scale [Rows*Blocks] into x.
func (d *Device) WriteQ8(x Q8, q []int8, scale []float32) error {
	checkWhole("WriteQ8", "x", x)
	if len(q) != x.Rows*x.Cols || len(scale) != x.Rows*x.Blocks() {
		panic(fmt.Sprintf("shaders: WriteQ8: q[%d] scale[%d] for [%d,%d] (want %d, %d)",
			len(q), len(scale), x.Rows, x.Cols, x.Rows*x.Cols, x.Rows*x.Blocks()))
	}
	if err := d.Write(x.Q, 0, PackQ8(q)); err != nil {
		return err
	}
	return d.WriteF32(x.Scale, 0, scale)
}

// ReadQ8 downloads x into q int8 [Rows*Cols] and scale [Rows*Blocks].
func (d *Device) ReadQ8(q []int8, scale []float32, x Q8) error {
	checkWhole("ReadQ8", "x", x)
	p := make([]byte, (len(q)+3)&^3)
	if err := d.Read(x.Q, 0, p); err != nil {
		return err
	}
	for i := range q {
		q[i] = int8(p[i])
	}
	return d.ReadF32(scale, x.Scale, 0)
}

// Release frees both buffers.
func (x Q8) Release() {
	x.Q.Release()
	x.Scale.Release()
}

// PackQ8 packs int8 values four per little-endian u32 word, zero-padded to a whole
// word: the byte layout of Q8.Q.
func PackQ8(q []int8) []byte {
	p := make([]byte, (len(q)+3)&^3)
	for i, v := range q {
		p[i] = byte(v)
	}
	return p
}

// VulkanICDs lists the Vulkan driver manifests (ICDs) installed in the usual places.
func VulkanICDs() []string {
	var found []string
	for _, dir := range []string{"/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d", "/usr/local/share/vulkan/icd.d"} {
		m, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		found = append(found, m...)
	}
	return found
}

// HasVulkanDriver tells whether a Vulkan driver is installed or named by the loader's
// environment (VK_ICD_FILENAMES, VK_DRIVER_FILES); whether it works is Open's to say.
func HasVulkanDriver() bool {
	return len(VulkanICDs()) > 0 || os.Getenv("VK_ICD_FILENAMES") != "" || os.Getenv("VK_DRIVER_FILES") != ""
}

// VulkanHint tells how to get a Vulkan driver when none works.
func VulkanHint() string {
	return "no working Vulkan driver; on Debian/Ubuntu install Mesa's CPU driver lavapipe: apt-get install mesa-vulkan-drivers libvulkan1"
}
