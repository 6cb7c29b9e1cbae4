package shaders

import (
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/gogpu/wgpu"

	"github.com/t2web/t2web/internal/need"
)

var (
	testOnce sync.Once
	testDev  *Device
	testErr  error
)

// device opens the shared test device on Vulkan. It skips only when no Vulkan driver
// is installed at all; any other failure — including an adapter of another backend —
// fails the test.
func device(t testing.TB) *Device {
	t.Helper()
	if !HasVulkanDriver() {
		need.Skip(t, "shaders: no Vulkan ICD installed (/usr/share/vulkan/icd.d/*.json); "+VulkanHint())
	}
	testOnce.Do(func() { testDev, testErr = Open() })
	if testErr != nil {
		t.Fatalf("open Vulkan device: %v", testErr)
	}
	if b := testDev.Info().Backend; b != wgpu.BackendVulkan {
		t.Fatalf("asked for Vulkan, got backend %s (adapter %q)", b, testDev.Info().Name)
	}
	return testDev
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testDev != nil {
		testDev.Close()
	}
	os.Exit(code)
}

func TestOpenVulkan(t *testing.T) {
	d := device(t)
	info := d.Info()
	l := d.Limits()
	t.Logf("adapter %q driver %q backend %s type %v; maxStorageBufferBindingSize %d MiB, maxBufferSize %d MiB, workgroup storage %d, invocations %d",
		info.Name, info.Driver, info.Backend, info.DeviceType, l.MaxStorageBufferBindingSize>>20, l.MaxBufferSize>>20,
		l.MaxComputeWorkgroupStorageSize, l.MaxComputeInvocationsPerWorkgroup)
	if _, err := d.NewBuffer("too big", d.MaxBinding()+4); err == nil {
		t.Errorf("NewBuffer beyond the binding limit succeeded")
	}
}

func TestSpecialize(t *testing.T) {
	src := "override WG: u32 = 256u;\noverride EPS: f32 = 1e-5;\nvar<workgroup> a: array<f32, WG>;\n"
	got, err := specialize(src, overrides{"WG": 64})
	if err != nil {
		t.Fatal(err)
	}
	want := "const WG: u32 = 64u;\nconst EPS: f32 = 1e-5;\nvar<workgroup> a: array<f32, WG>;\n"
	if got != want {
		t.Errorf("specialize:\n%s\nwant\n%s", got, want)
	}
	if _, err := specialize(src, overrides{"NOPE": 1}); err == nil {
		t.Errorf("unknown override accepted")
	}
	if _, err := specialize(src, overrides{"WG": -1}); err == nil {
		t.Errorf("negative u32 override accepted")
	}
}

// TestKernelsCompile compiles every kernel of the package on the device: WGSL errors
// show up here first, natively, before the browser (where they are silent).
func TestKernelsCompile(t *testing.T) {
	d := device(t)
	for _, k := range []*kernelDef{kCopy, kEmbedF32, kEmbedQ8, kRMSNorm, kRope, kKVStore, kAttention,
		kSwiGLU, kAdd, kMatVec, kMatMul, kMatVecQ8, kMatMulQ8, kArgmax, kSample,
		kSVFScale, kRecompose, kRecomposeW, kQuantizeRows, kFactoredDown, kMVFused, kSwiGLUFused, kQKVFused, kAttnPart, kAttnMerge,
		kMatMulRows, kMatMulQ8Rows, kMatMulQ8Wide, kFactoredRows} {
		if _, err := d.kernel(k, nil); err != nil {
			t.Error(err)
		}
	}
}

func TestCopy(t *testing.T) {
	d := device(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{16, 4096 + 48, 1<<20 + 16*37} {
		x := randVec(rng, n/4, 1)
		src := must(d.NewBufferF32("src", x))
		dst := must(d.NewBuffer("dst", uint64(n)))
		b := d.NewBatch("copy")
		b.Copy(dst, src, n)
		if err := b.Run(); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, n/4)
		if err := d.ReadF32(got, dst, 0); err != nil {
			t.Fatal(err)
		}
		for i := range x {
			if got[i] != x[i] {
				t.Fatalf("n=%d: dst[%d] = %g, want %g", n, i, got[i], x[i])
			}
		}
		b.Release()
		src.Release()
		dst.Release()
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// randVec is n values uniform in [-a, a).
func randVec(rng *rand.Rand, n int, a float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32((2*rng.Float64() - 1) * a)
	}
	return x
}

// relErr is max|got−want| / max|want|: the error relative to the tensor's scale.
func relErr(got []float32, want []float64) float64 {
	var maxD, maxW float64
	for i, w := range want {
		maxD = math.Max(maxD, math.Abs(float64(got[i])-w))
		maxW = math.Max(maxW, math.Abs(w))
	}
	if maxW == 0 {
		return maxD
	}
	return maxD / maxW
}

func f64s(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// quantize is the Q8 of x[rows, cols]: per block of 32 of a row, scale = max|x|/127 and
// q = round(x/scale) (half away from zero, as pack.QuantizeQ8), computed in float64.
func quantize(x []float32, rows, cols int) ([]int8, []float32) {
	nb := (cols + 31) / 32
	q := make([]int8, rows*cols)
	scale := make([]float32, rows*nb)
	for r := range rows {
		for blk := range nb {
			lo, hi := r*cols+blk*32, r*cols+min(blk*32+32, cols)
			var m float64
			for _, v := range x[lo:hi] {
				m = math.Max(m, math.Abs(float64(v)))
			}
			s := float32(m / 127)
			scale[r*nb+blk] = s
			for i := lo; i < hi; i++ {
				if s != 0 {
					q[i] = int8(math.Max(-127, math.Min(127, math.Round(float64(x[i])/float64(s)))))
				}
			}
		}
	}
	return q, scale
}
