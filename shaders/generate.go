package shaders

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/t2web/t2web/model"
)

// Generate is model.Generate on the GPU engine — prompt through sequence 0, then up to
// maxTokens tokens drawn with s, emit called with each, a stop token ending it — with the
// next token kept on the device when the draw happens there: greedy, or at a temperature
// with EngineOptions.DeviceSampling, and no repetition penalty. Each step's pass then
// takes its token from the previous pass's output buffer (a chained pass: fwdKey.chain),
// and the token is read back asynchronously, for emit, while the next pass runs: pass
// t+1 is submitted before token t is read, and one pass beyond the last token may be
// computed and thrown away (the cache is left as model.Generate leaves it). Other samplers
// take model.Generate's path (the row of logits read back every step). With device
// sampling the next random number is drawn before the token is known, so after an early
// stop the sampler has drawn one number more than model.Generate draws.
func (e *Engine) Generate(ctx context.Context, prompt []int, s *model.Sampler, maxTokens int, stop []int, emit func(id int)) ([]int, error) {
	p := s.Params()
	sampling := Sampling{Temperature: p.Temperature, TopK: p.TopK, TopP: p.TopP}
	if p.Temperature <= 0 {
		sampling = Sampling{}
	}
	if p.Temperature > 0 && !e.opt.DeviceSampling || p.RepeatPenalty > 0 && p.RepeatPenalty != 1 {
		return model.Generate(ctx, e, prompt, s, maxTokens, stop, emit)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(prompt) == 0 {
		return nil, fmt.Errorf("shaders: engine: generate: empty prompt")
	}
	n := len(prompt)
	if n >= e.Context() {
		return nil, fmt.Errorf("shaders: engine: generate: the prompt has %d tokens, the context holds %d", n, e.Context())
	}
	if maxTokens <= 0 {
		return nil, nil
	}
	e.Clear(0)
	var b model.Batch
	for i, id := range prompt {
		s.Accept(id)
		b.Add(id, i, 0, i == n-1)
	}
	a := &e.act
	if err := e.Forward(&b); err != nil {
		return nil, err
	}
	if sampling.Temperature > 0 {
		// The first token: the prompt's last row drawn into ids[0], where the chained
		// passes take their token.
		key := sampleKey{row: -1, s: sampling}
		sb := e.samples[key]
		if sb == nil {
			sb = e.d.NewBatch("sample into ids")
			sb.Sample(a.ids, a.logits, a.u, a.scratch, 1, e.cfg.VocabSize, sampling)
			e.samples[key] = sb
		}
		if err := e.d.WriteF32(a.u, 0, []float32{float32(s.Uniform())}); err != nil {
			return nil, err
		}
		if err := sb.Submit(); err != nil {
			return nil, err
		}
	}
	e.outputChanged()
	key := fwdKey{T: 1, nOut: 1, chain: true, s: sampling}
	chain := e.forwards[key]
	if chain == nil {
		chain = e.record(key)
		e.forwards[key] = chain
	}

	var reads []*PendingRead
	defer func() {
		// Reads still in flight after a stop: wait for them, so their staging buffers
		// return to the pool.
		for _, r := range reads {
			if r != nil {
				r.Wait(nil)
			}
		}
	}()
	read := func() error {
		r, err := e.d.ReadAsync(a.ids, 0, 4)
		if err == nil {
			reads = append(reads, r)
		}
		return err
	}
	if err := read(); err != nil {
		return nil, err
	}
	// submit records the pass of token i (at position n+i), which draws token i+1.
	submit := func(i int) error {
		pos := uint32(n + i)
		for _, w := range []struct {
			buf *Buffer
			x   []uint32
		}{{a.pos, []uint32{pos}}, {a.seq, []uint32{0}}, {a.meta, []uint32{pos, 0}}, {a.outIdx, []uint32{0}}} {
			if err := e.d.WriteU32(w.buf, 0, w.x); err != nil {
				return err
			}
		}
		if sampling.Temperature > 0 {
			if err := e.d.WriteF32(a.u, 0, []float32{float32(s.Uniform())}); err != nil {
				return err
			}
		}
		if err := chain.Submit(); err != nil {
			return err
		}
		e.lens[0], e.nOut = n+i+1, 1
		return read()
	}
	var out []int
	var stopped error // ctx's error when it ended the generation
	forwarded := 0    // generated tokens model.Generate would have run through the model
	var buf [4]byte
	for i := 0; ; i++ {
		// Token i's pass goes in before token i is read, when model.Generate would run it
		// should token i be no stop token.
		if i+1 < maxTokens && n+i < e.Context() {
			if err := submit(i); err != nil {
				return out, err
			}
		}
		r := reads[i]
		reads[i] = nil
		if err := r.Wait(buf[:]); err != nil {
			return out, err
		}
		id := int(binary.LittleEndian.Uint32(buf[:]))
		if slices.Contains(stop, id) {
			break
		}
		s.Accept(id)
		out = append(out, id)
		if emit != nil {
			emit(id)
		}
		if stopped = ctx.Err(); stopped != nil {
			break
		}
		if len(out) == maxTokens || n+i >= e.Context() {
			break
		}
		forwarded++
	}
	// Passes run past the end (a stop, a cancelled ctx) cached positions model.Generate
	// would not have: forget them.
	e.lens[0] = n + forwarded
	return out, stopped
}

// Generate is model.Generate for any engine: a GPU engine's own Generate (the next
// token kept on the device), model.Generate for the others.
func Generate(ctx context.Context, e model.Engine, prompt []int, s *model.Sampler, maxTokens int, stop []int, emit func(id int)) ([]int, error) {
	if g, ok := e.(*Engine); ok {
		return g.Generate(ctx, prompt, s, maxTokens, stop, emit)
	}
	return model.Generate(ctx, e, prompt, s, maxTokens, stop, emit)
}
