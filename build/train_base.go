package main

import (
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/chat"
	"github.com/t2web/t2web/model/tokenizer"
	"github.com/t2web/t2web/model/train"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/tasks"
)

// demoModelConfig is the config of the demo's base model, build/demo-model.json, the
// default of t2 train-base: Llama, a byte-level BPE of 640 tokens learnt on the mix
// (the 256 bytes, <|endoftext|>, <|im_start|>, <|im_end|> at 256–258, then 381 merges;
// digits stay single tokens), hidden 192, 6 layers, 6 query heads sharing 2 key/value
// heads of 32, SwiGLU of 512, 256 positions, separate lm_head: 2.61 M parameters. Why
// this size:
//
//   - Time. Forward+backward runs at about 3,000–4,000 tokens/s on this 2-core machine
//     (GOEXPERIMENT=simd), so the demo's 11,000 steps of 16×128 (22 M tokens) take
//     about 100 minutes.
//     A wider or deeper model would see too few examples in that time.
//   - Tokens. The BPE makes questions ~2.8× and answers ~1.3× shorter than bytes, so a
//     row of 128 holds whole examples and the first pass's classification prompt costs
//     a fraction of what it did in bytes.
//   - Capability. It learns the general families (arithmetic, word operations, lists,
//     conditions, classification) well and the domain tasks' own question forms not at
//     all: it is a pretrained model before task tuning, which leaves the experts
//     something real to add (demo/MODEL_CARD.md).
//   - Shape. Grouped-query attention (6/2) and head_dim 32 are Llama 3's shape scaled
//     down, so the demo exercises the engines' GQA path; every adapted matrix has rank
//     192 (q, o, gate, up, down) or 64 (k, v).
//   - Size. 2.61 M weights are ~10 MB in F32 and ~7.5 MB as the demo's pack (int8 with
//     the 48 largest directions, the embedding and lm_head in f32).
//
//go:embed demo-model.json
var demoModelConfig []byte

// cmdTrainBase trains a Llama-architecture model from scratch on the task suite: the
// demo's base model (ARCHITECTURE.md). With --from it is a further stage instead: it
// starts from a trained model's weights and keeps its config, tokenizer and chat template
// byte for byte, so a second stage can weight the mix toward what the first did not learn.
//
// The corpus is the train split of every family of the mix (--pool items of each, times
// its weight in tasks.GeneralWeights for the general mix), shuffled anew each epoch by
// the seed. An example is the ChatML user turn that
// svf.Prompt makes of the question, then the worked solution (the reference answer where
// a task has none) and <|im_end|>; only the answer and <|im_end|> carry a loss. Examples are packed whole into the rows of a batch
// (a row holds two on average; the rest is padding without a loss): one example per row
// would leave more than half of every row as padding. An example attends to the ones
// before it in its row; a row's first example, at position 0 as at inference, is a third
// of them.
//
// AdamW (β 0.9/0.95, weight decay 0.1 on matrices only, gradient-norm clip 1), learning
// rate warmed up linearly over --warmup steps, then a cosine to a tenth at --lr-steps
// (--steps by default). The run is a function of its settings: the same settings write
// the same bytes, and a run resumed from --checkpoint continues exactly.
func cmdTrainBase(args []string, stdout, stderr io.Writer) error {
	fs := flags("train-base", "--out DIR [--config FILE | --from DIR] [--steps N] [--minutes 55] [--seed S] [--checkpoint FILE] [--batch 8] [--seq 256]", stderr)
	out := fs.String("out", "", "output `folder`: config.json, model.safetensors (F32), tokenizer.json, tokenizer_config.json")
	cfgPath := fs.String("config", "", "config.json `file` of the model (default: build/demo-model.json, built in)")
	from := fs.String("from", "", "start from the model in `folder` (its config.json, tokenizer, chat template and weights) instead of random weights: a further stage of training, on the folder's tokenizer")
	var s baseSettings
	steps := fs.Int("steps", 0, "optimiser `steps` to train in all; 0: as many as --minutes allows, measured on the first steps (not reproducible)")
	minutes := fs.Float64("minutes", 55, "a guard: stop after this many `minutes` of this process, keeping the checkpoint, and fail")
	fs.Uint64Var(&s.Seed, "seed", 1, "random `seed`: initial weights, the corpus and its order")
	ckpt := fs.String("checkpoint", "", "`file` that keeps the run every --save-every steps; an existing one is resumed")
	fs.IntVar(&s.Batch, "batch", 8, "rows per step")
	fs.IntVar(&s.Seq, "seq", 256, "tokens per row")
	fs.IntVar(&s.Pool, "pool", 20000, "train `items` drawn from each family of the mix")
	fs.StringVar(&s.Mix, "mix", "general", "the `families` trained on: general (tasks.General, the demo's generalist mix), suite (the seven tasks of the suite), or a comma-separated list of task names")
	fs.IntVar(&s.Vocab, "vocab", 0, "learn a byte-level BPE of `n` tokens on the mix (digits split one by one); 0: the config's vocab_size, the 259 byte tokens when it is 259")
	fs.Float64Var(&s.LR, "lr", 2e-3, "peak learning `rate`")
	fs.IntVar(&s.Warmup, "warmup", 200, "`steps` of linear learning-rate warmup")
	fs.IntVar(&s.LRSteps, "lr-steps", 0, "the cosine reaches lr/10 at this `step`; default --steps (keep it when stopping early with a smaller --steps)")
	logEvery := fs.Int("log-every", 50, "print progress every `n` steps")
	saveEvery := fs.Int("save-every", 200, "write --checkpoint every `n` steps")
	evalN := fs.Int("eval-n", 50, "at the end, answer `n` validation questions of each task greedily; 0: none")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() != 0 || *steps < 0 || s.LRSteps < 0 || s.Batch <= 0 || s.Seq <= 0 || s.Pool <= 0 ||
		s.Warmup < 0 || *logEvery <= 0 || *saveEvery <= 0 || *evalN < 0 || *minutes <= 0 || s.LR <= 0 {
		fs.Usage()
		return errUsage
	}
	if *from != "" && (*cfgPath != "" || s.Vocab != 0) {
		return fmt.Errorf("--from %s: the model's config and tokenizer are the folder's; drop --config and --vocab", *from)
	}
	cfgJSON := demoModelConfig
	var start *model.Model
	switch {
	case *cfgPath != "":
		var err error
		if cfgJSON, err = os.ReadFile(*cfgPath); err != nil {
			return err
		}
	case *from != "":
		var err error
		if cfgJSON, err = os.ReadFile(filepath.Join(*from, "config.json")); err != nil {
			return fmt.Errorf("--from: %w", err)
		}
		if start, err = model.Load(os.DirFS(*from)); err != nil {
			return fmt.Errorf("--from %s: %w", *from, err)
		}
	}
	r := &baseRun{
		settings: s, steps: *steps, out: *out, from: *from, start: start, checkpoint: *ckpt, guard: time.Duration(*minutes * float64(time.Minute)),
		logEvery: *logEvery, saveEvery: *saveEvery, evalN: *evalN, stdout: stdout, stderr: stderr,
	}
	if err := r.run(cfgJSON); err != nil {
		if *cfgPath != "" && errors.Is(err, errConfig) {
			return fmt.Errorf("%s: %w", *cfgPath, err)
		}
		return err
	}
	return nil
}

// errConfig is wrapped by errors about the model's config.
var errConfig = errors.New("config")

// baseSettings are what a train-base run's weights depend on besides the step count. A
// checkpoint records them, and resuming with other ones is an error.
type baseSettings struct {
	Config  string  `json:"config_sha256"`         // of config.json's bytes
	From    string  `json:"from_sha256,omitempty"` // of the starting weights (--from) as float32s; empty from random ones
	Seed    uint64  `json:"seed"`
	Batch   int     `json:"batch"`
	Seq     int     `json:"seq"`
	Pool    int     `json:"pool"`
	Mix     string  `json:"mix,omitempty"`   // the families; empty in checkpoints of the suite mix
	Vocab   int     `json:"vocab,omitempty"` // BPE tokens; 0 for bytes
	LR      float64 `json:"lr"`
	Warmup  int     `json:"warmup"`
	LRSteps int     `json:"lr_steps"` // 0 while a run by time has not chosen it
}

// baseState is a checkpoint's extra state: the settings and where the run is.
type baseState struct {
	baseSettings
	Next    int     `json:"next"`          // stream index of the next example
	Skipped int     `json:"skipped"`       // examples longer than a row, left out
	Tokens  int64   `json:"tokens"`        // tokens trained on, padding excluded
	Answer  int64   `json:"answer_tokens"` // tokens with a loss
	Seconds float64 `json:"seconds"`       // training time of the steps done, over every resume
	Loss    float64 `json:"loss"`          // mean loss of the last logged steps
}

// lrAt is the learning rate of update step (0-based): linear warmup to LR over the first
// Warmup updates, then a cosine from LR down to LR/10 at LRSteps, LR/10 after. While
// LRSteps is 0 (not chosen yet) it stays at LR after the warmup.
func (s *baseSettings) lrAt(step int) float64 {
	if step < s.Warmup {
		return s.LR * float64(step+1) / float64(s.Warmup)
	}
	if s.LRSteps == 0 {
		return s.LR
	}
	span := max(1, s.LRSteps-s.Warmup)
	p := min(1, float64(step-s.Warmup)/float64(span))
	return s.LR * (0.1 + 0.9*0.5*(1+math.Cos(math.Pi*p)))
}

// differences lists the settings of s that other does not share, as other's flags
// (other's LRSteps of 0 matches any).
func (s *baseSettings) differences(other *baseSettings) []string {
	var d []string
	add := func(flag string, mine, theirs any) {
		if mine != theirs {
			d = append(d, fmt.Sprintf("%s %v (this run: %v)", flag, theirs, mine))
		}
	}
	add("a config.json of SHA-256", s.Config, other.Config)
	add("--from a model of weights of SHA-256", s.From, other.From)
	add("--seed", s.Seed, other.Seed)
	add("--batch", s.Batch, other.Batch)
	add("--seq", s.Seq, other.Seq)
	add("--pool", s.Pool, other.Pool)
	add("--mix", s.Mix, other.Mix)
	add("--vocab", s.Vocab, other.Vocab)
	add("--lr", s.LR, other.LR)
	add("--warmup", s.Warmup, other.Warmup)
	if other.LRSteps != 0 {
		add("--lr-steps", s.LRSteps, other.LRSteps)
	}
	return d
}

// baseRun is one invocation of train-base.
type baseRun struct {
	settings       baseSettings
	steps          int // 0: chosen by time
	out            string
	from           string       // --from: the folder of the starting model
	start          *model.Model // its model; nil: random weights
	checkpoint     string
	guard          time.Duration
	logEvery       int
	saveEvery      int
	evalN          int
	stdout, stderr io.Writer
}

// calibrationSteps is how many steps a run by time measures before choosing --steps.
const calibrationSteps = 10

func (r *baseRun) run(cfgJSON []byte) error {
	start := time.Now()
	cfg, err := model.ParseConfig(cfgJSON)
	if err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}
	if r.settings.Vocab == 0 && cfg.VocabSize > 256+len(randomSpecials) {
		r.settings.Vocab = cfg.VocabSize // the config's vocabulary: a BPE of that size
	}
	families, err := mixFamilies(r.settings.Mix)
	if err != nil {
		return err
	}
	items, err := sampleMix(families, r.settings.Seed, r.settings.Pool)
	if err != nil {
		return err
	}
	var text *model.Model
	var files map[string][]byte
	if r.start != nil {
		text, files, err = startText(r.from, r.start)
	} else {
		text, files, err = baseText(cfg, items, r.settings.Vocab)
	}
	if err != nil {
		return err
	}
	sum := sha256.Sum256(cfgJSON)
	s := r.settings
	s.Config = hex.EncodeToString(sum[:])
	if s.LRSteps == 0 {
		s.LRSteps = r.steps
	}
	if s.Seq > cfg.MaxPositions {
		return fmt.Errorf("--seq %d exceeds the model's max_position_embeddings %d", s.Seq, cfg.MaxPositions)
	}

	m, err := train.New[float32](cfg, train.Options{B: s.Batch, T: s.Seq, Seed: s.Seed})
	if err != nil {
		return err
	}
	defer m.Close()
	if r.start != nil {
		if err := m.SetWeights(r.start.Weights); err != nil {
			return fmt.Errorf("--from %s: %w", r.from, err)
		}
		s.From = paramsSum(m.Params)
	}
	opt := train.NewAdamW(train.DefaultAdamW(), len(m.Params))
	opt.Decay = m.MatrixSpans()
	st := baseState{baseSettings: s}
	if r.checkpoint != "" {
		if err := os.MkdirAll(filepath.Dir(r.checkpoint), 0o755); err != nil {
			return err
		}
		switch extra, err := train.LoadCheckpoint(r.checkpoint, m, opt); {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return err
		default:
			var saved baseState
			if err := json.Unmarshal(extra, &saved); err != nil {
				return fmt.Errorf("checkpoint %s: state: %w", r.checkpoint, err)
			}
			if r.settings.LRSteps == 0 && r.steps == 0 {
				s.LRSteps = saved.LRSteps
			}
			if d := s.differences(&saved.baseSettings); len(d) > 0 {
				return fmt.Errorf("checkpoint %s was made with other settings: %s; rerun with the checkpoint's or remove it",
					r.checkpoint, strings.Join(d, ", "))
			}
			st = saved
			st.baseSettings = s
			if r.steps == 0 {
				r.steps = s.LRSteps
			}
			if r.steps != 0 && opt.Step > r.steps {
				return fmt.Errorf("checkpoint %s is at step %d, past --steps %d", r.checkpoint, opt.Step, r.steps)
			}
			fmt.Fprintf(r.stderr, "resuming %s at step %d (example %d, %s trained)\n",
				r.checkpoint, opt.Step, st.Next, (time.Duration(st.Seconds) * time.Second).String())
		}
	}
	corpus, err := newBaseCorpus(text, s.Seed, familyTasks(families), items)
	if err != nil {
		return err
	}
	fmt.Fprintf(r.stderr, "train-base: %s parameters, %d layers × %d, batch %d×%d, %d corpus items, lr %.g, %s\n",
		count(len(m.Params)), cfg.NLayers, cfg.Dim, s.Batch, s.Seq, len(corpus.items), s.LR, kernelNote())

	if err := r.train(m, opt, corpus, &st, start); err != nil {
		return err
	}
	if err := writeBaseModel(r.out, cfgJSON, m, files); err != nil {
		return err
	}
	fmt.Fprintf(r.stdout, "trained %d steps in %v: %s tokens (%s with a loss, %d examples, %d longer than a row left out), final loss %.4f; wrote %s\n",
		opt.Step, (time.Duration(st.Seconds) * time.Second).String(), count64(st.Tokens), count64(st.Answer), st.Next-st.Skipped, st.Skipped, st.Loss, r.out)
	if r.evalN > 0 {
		return r.evaluate(s.Seed)
	}
	return nil
}

// train runs the steps left, logging, saving the checkpoint and keeping the time guard.
func (r *baseRun) train(m *train.Model[float32], opt *train.AdamW, corpus *baseCorpus, st *baseState, start time.Time) error {
	B, T, V := m.B, m.T, m.Config.VocabSize
	inputs, targets := make([]int, B*T), make([]int, B*T)
	var placed []packedExample
	first, saved := opt.Step, opt.Step
	trainStart, seconds0 := time.Now(), st.Seconds
	var calibrateFrom time.Time
	// Progress since the last log line.
	var lossSum float64
	var logSteps, logTokens int
	logStart := time.Now()
	right, seen := make([]int, len(corpus.tasks)), make([]int, len(corpus.tasks))
	save := func() error {
		if r.checkpoint == "" || saved == opt.Step {
			return nil
		}
		st.Seconds = seconds0 + time.Since(trainStart).Seconds()
		extra, err := json.Marshal(st)
		if err != nil {
			return err
		}
		if err := train.SaveCheckpoint(r.checkpoint, m, opt, extra); err != nil {
			return err
		}
		saved = opt.Step
		return nil
	}
	for r.steps == 0 || opt.Step < r.steps {
		step := opt.Step
		var err error
		if placed, err = corpus.fill(inputs, targets, B, T, st, placed[:0]); err != nil {
			return err
		}
		m.ZeroGrad()
		loss, err := m.Forward(inputs, targets, nil)
		if err != nil {
			return err
		}
		m.Backward()
		// Teacher-forced exact match: the greedy answer is the reference (the whole worked
		// solution) exactly when every answer token (and <|im_end|>) is the most likely one
		// after the reference's prefix — a lower bound on the share answered right.
		// Taken before the update, on items the model has not seen yet (in the first epoch).
		probs := m.Probs()
		for _, p := range placed {
			ok := true
			for n := p.from; n < p.to && ok; n++ {
				ok = argmax(probs[n*V:(n+1)*V]) == targets[n]
			}
			seen[p.task]++
			if ok {
				right[p.task]++
			}
		}
		opt.LR = st.lrAt(step)
		norm := opt.Update(m.Params, m.Grads)
		lossSum += loss
		logSteps++
		logTokens += B * T
		if step == first {
			calibrateFrom = time.Now() // the first step warms up; time the next ones
		}
		if r.steps == 0 && step == first+calibrationSteps {
			perStep := time.Since(calibrateFrom) / calibrationSteps
			left := time.Duration(0.9*float64(r.guard)) - time.Since(start) - r.evalReserve()
			r.steps = opt.Step + max(0, int(left/perStep))
			st.LRSteps = r.steps
			fmt.Fprintf(r.stderr, "chose --steps %d: %v a step, %v left of --minutes\n", r.steps, perStep.Round(time.Millisecond), left.Round(time.Second))
		}
		if opt.Step%r.logEvery == 0 || opt.Step == r.steps {
			st.Loss = lossSum / float64(logSteps)
			dt := time.Since(logStart).Seconds()
			rate := float64(logTokens) / dt
			eta := "?"
			if r.steps > 0 {
				eta = time.Duration(float64(r.steps-opt.Step) * dt / float64(logSteps) * float64(time.Second)).Round(time.Second).String()
			}
			var acc []string
			for i, name := range corpus.tasks {
				if seen[i] > 0 {
					acc = append(acc, fmt.Sprintf("%s %.0f", name, 100*float64(right[i])/float64(seen[i])))
				}
			}
			fmt.Fprintf(r.stderr, "step %d/%d  tokens %s  loss %.4f  lr %.2e  |g| %.3f  %.0f tok/s  elapsed %v  ETA %s  exact %% %s\n",
				opt.Step, r.steps, count64(int64(opt.Step)*int64(B*T)), st.Loss, opt.LR, norm, rate,
				time.Since(start).Round(time.Second), eta, strings.Join(acc, " "))
			lossSum, logSteps, logTokens, logStart = 0, 0, 0, time.Now()
			clear(right)
			clear(seen)
		}
		if opt.Step%r.saveEvery == 0 {
			if err := save(); err != nil {
				return err
			}
		}
		if r.steps != 0 && opt.Step >= r.steps {
			break
		}
		if time.Since(start) >= r.guard {
			if err := save(); err != nil {
				return err
			}
			if r.checkpoint == "" {
				return fmt.Errorf("stopped by --minutes at step %d of %d (no --checkpoint: the run is lost)", opt.Step, r.steps)
			}
			return fmt.Errorf("stopped by --minutes at step %d of %d; the same command continues from %s", opt.Step, r.steps, r.checkpoint)
		}
	}
	if logSteps > 0 {
		st.Loss = lossSum / float64(logSteps)
	}
	st.Seconds = seconds0 + time.Since(trainStart).Seconds()
	return save()
}

// evalReserve is the time a run by time keeps for the final evaluation: a second an
// answer, more than the CPU engine takes for the demo model on this machine when the
// worked answers run to evalTokens.
func (r *baseRun) evalReserve() time.Duration {
	return time.Duration(r.evalN*(len(tasks.All())+len(tasks.General()))) * time.Second
}

// evalTokens bounds an answer of the final evaluation: the longest worked solution of
// the suite is 92 bytes.
const evalTokens = 100

// evaluate answers evalN validation questions of each task greedily with the written
// model, as t2 eval does.
func (r *baseRun) evaluate(seed uint64) error {
	m, err := model.Load(os.DirFS(r.out))
	if err != nil {
		return err
	}
	e, err := model.NewCPU(m, model.CPUOptions{MaxSeqs: min(16, r.evalN)})
	if err != nil {
		return err
	}
	for _, t := range evalFamilies(r.settings.Mix) {
		exs, err := tasks.Sample(t, tasks.Validation, seed, r.evalN)
		if err != nil && !errors.Is(err, tasks.ErrFewItems) {
			return err
		}
		res, err := svf.Evaluate(m, e, exs, t.Check, evalTokens)
		if err != nil {
			return err
		}
		lo, hi := svf.Wilson(res.Correct, res.N)
		fmt.Fprintf(r.stdout, "validation %-14s %3d/%d correct, %5.1f%% (95%% interval %.1f–%.1f%%)\n",
			t.Name(), res.Correct, res.N, 100*res.Accuracy(), 100*lo, 100*hi)
	}
	return nil
}

// baseText is the tokenizer and chat template of the demo model, as a model without
// weights, and the files that hold them in a checkpoint folder: the byte-level tokenizer
// of the random model (vocab 0), or a byte-level BPE of vocab tokens learnt on the
// questions and answers of items; the ChatML template.
func baseText(cfg *model.Config, items []tasks.Example, vocab int) (*model.Model, map[string][]byte, error) {
	tokJSON := tokenizer.ByteLevelJSON(randomSpecials)
	if vocab > 0 {
		texts := make([]string, 0, 2*len(items))
		for _, ex := range items {
			texts = append(texts, ex.Input, answerOf(ex))
		}
		var err error
		if tokJSON, err = tokenizer.TrainBPE(texts, vocab, randomSpecials); err != nil {
			return nil, nil, fmt.Errorf("--vocab %d: %w", vocab, err)
		}
	}
	files := map[string][]byte{
		"tokenizer.json":        tokJSON,
		"tokenizer_config.json": chatMLConfigJSON(),
	}
	tok, err := tokenizer.Load(files["tokenizer.json"])
	if err != nil {
		return nil, nil, err
	}
	if n := tok.VocabSize(); cfg.VocabSize < n {
		return nil, nil, fmt.Errorf("%w: vocab_size %d is below the %d tokens of the tokenizer", errConfig, cfg.VocabSize, n)
	}
	tpl, err := chat.Load(files["tokenizer_config.json"])
	if err != nil {
		return nil, nil, err
	}
	return &model.Model{Config: cfg, Tokenizer: tok, Chat: tpl, EOS: cfg.EOS}, files, nil
}

// startText is the tokenizer and chat template of the --from model m, read from dir, and
// the files that hold them, written unchanged to the output: a further stage keeps the
// tokenizer its embeddings were trained on.
func startText(dir string, m *model.Model) (*model.Model, map[string][]byte, error) {
	if m.Chat == nil {
		return nil, nil, fmt.Errorf("--from %s: tokenizer_config.json has no chat_template; the corpus is chat turns", dir)
	}
	files := map[string][]byte{}
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, nil, fmt.Errorf("--from: %w", err)
		}
		files[name] = data
	}
	text := *m
	text.Weights = nil
	return &text, files, nil
}

// paramsSum is the hex SHA-256 of params as little-endian float32s.
func paramsSum(params []float32) string {
	h := sha256.New()
	buf := make([]byte, 4*1024)
	for len(params) > 0 {
		n := min(len(params), len(buf)/4)
		for i, v := range params[:n] {
			binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(v))
		}
		h.Write(buf[:4*n])
		params = params[n:]
	}
	return hex.EncodeToString(h.Sum(nil))
}

// evalFamilies are the families the end of a run evaluates: those of the mix, then the
// suite's tasks it lacks.
func evalFamilies(mix string) []tasks.Task {
	mf, err := mixFamilies(mix)
	if err != nil {
		return tasks.All()
	}
	fams := familyTasks(mf)
	seen := map[string]bool{}
	for _, t := range fams {
		seen[t.Name()] = true
	}
	for _, t := range tasks.All() {
		if !seen[t.Name()] {
			fams = append(fams, t)
		}
	}
	return fams
}

// mixFamily is one family of a mix and its weight: it gives weight·pool items.
type mixFamily struct {
	task   tasks.Task
	weight float64
}

// mixFamilies returns the families of --mix: "general" (tasks.General, weighted by
// tasks.GeneralWeights), "suite" (tasks.All), or a comma-separated list of NAME or
// NAME:WEIGHT.
func mixFamilies(mix string) ([]mixFamily, error) {
	var out []mixFamily
	switch mix {
	case "general":
		w := tasks.GeneralWeights()
		for _, t := range tasks.General() {
			out = append(out, mixFamily{t, w[t.Name()]})
		}
		return out, nil
	case "suite":
		for _, t := range tasks.All() {
			out = append(out, mixFamily{t, 1})
		}
		return out, nil
	}
	for _, item := range strings.Split(mix, ",") {
		name, weight, hasWeight := strings.Cut(strings.TrimSpace(item), ":")
		t, err := tasks.Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("--mix: %w", err)
		}
		w := 1.0
		if hasWeight {
			if w, err = strconv.ParseFloat(weight, 64); err != nil || w <= 0 {
				return nil, fmt.Errorf("--mix: %s: weight %q, want a number > 0", name, weight)
			}
		}
		out = append(out, mixFamily{t, w})
	}
	return out, nil
}

// familyTasks returns the tasks of a mix.
func familyTasks(mix []mixFamily) []tasks.Task {
	out := make([]tasks.Task, len(mix))
	for i, f := range mix {
		out[i] = f.task
	}
	return out
}

// sampleMix draws weight·pool train items of every family, in the families' order.
func sampleMix(mix []mixFamily, seed uint64, pool int) ([]tasks.Example, error) {
	var items []tasks.Example
	for _, f := range mix {
		// A family with fewer distinct items than asked (one-line has about 3,000) gives
		// what it has: its items come round more often.
		exs, err := tasks.Sample(f.task, tasks.Train, seed, max(1, int(math.Round(f.weight*float64(pool)))))
		if err != nil && !errors.Is(err, tasks.ErrFewItems) {
			return nil, err
		}
		items = append(items, exs...)
	}
	return items, nil
}

// answerOf is what the base model learns to answer ex with: its worked solution, or its
// reference answer where the task has none.
func answerOf(ex tasks.Example) string {
	if ex.Solution != "" {
		return ex.Solution
	}
	return ex.Output
}

// writeBaseModel writes the trained model as a Hugging Face checkpoint folder.
func writeBaseModel(dir string, cfgJSON []byte, m *train.Model[float32], files map[string][]byte) error {
	if err := model.WriteCheckpoint(dir, cfgJSON, m.Weights(), "F32"); err != nil {
		return err
	}
	for _, name := range []string{"tokenizer.json", "tokenizer_config.json"} {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// baseCorpus is the stream of training examples: Pool train items of every task,
// shuffled anew each epoch by the seed, so that example k of the stream is a function
// of (seed, pool, k).
type baseCorpus struct {
	text  *model.Model
	tasks []string        // task names, tasks.All's order
	items []tasks.Example // every task's items, in tasks' order
	task  []int           // items[i]'s index in tasks
	seed  uint64
	epoch int   // of perm
	perm  []int // the order of items in epoch
	imEnd int   // <|im_end|>, the last token of every example
	pad   int   // <|endoftext|>, the input of padding rows

	cached    int // stream index of ids
	ids       []int
	promptLen int
}

func newBaseCorpus(text *model.Model, seed uint64, families []tasks.Task, items []tasks.Example) (*baseCorpus, error) {
	c := &baseCorpus{text: text, seed: seed, epoch: -1, cached: -1, items: items}
	var ok1, ok2 bool
	c.imEnd, ok1 = text.Tokenizer.TokenID("<|im_end|>")
	c.pad, ok2 = text.Tokenizer.TokenID("<|endoftext|>")
	if !ok1 || !ok2 {
		return nil, errors.New("train-base: the tokenizer lacks <|im_end|> or <|endoftext|>")
	}
	index := map[string]int{}
	for i, t := range families {
		c.tasks = append(c.tasks, t.Name())
		index[t.Name()] = i
	}
	for _, ex := range items {
		c.task = append(c.task, index[ex.Task])
	}
	return c, nil
}

// at returns the index in items of example k of the stream.
func (c *baseCorpus) at(k int) int {
	if e := k / len(c.items); e != c.epoch {
		rng := rand.New(rand.NewPCG(c.seed, 0x636f72707573+uint64(e)))
		c.epoch, c.perm = e, rng.Perm(len(c.items))
	}
	return c.perm[k%len(c.items)]
}

// encode returns the tokens of example k of the stream — svf.Prompt's tokens for the
// question, then the answer's and <|im_end|> — and the prompt's length.
func (c *baseCorpus) encode(k int) ([]int, int, error) {
	if k == c.cached {
		return c.ids, c.promptLen, nil
	}
	ex := c.items[c.at(k)]
	ids, err := svf.Prompt(c.text, ex.Input)
	if err != nil {
		return nil, 0, err
	}
	c.cached, c.promptLen = k, len(ids)
	c.ids = append(append(ids, c.text.Tokenizer.Encode(answerOf(ex), false)...), c.imEnd)
	return c.ids, c.promptLen, nil
}

// packedExample is where an example lies in a batch: rows [from, to) of the batch
// predict its answer and <|im_end|>.
type packedExample struct{ task, from, to int }

// fill packs whole examples of the stream, from st.Next on, into B rows of T tokens:
// inputs[N] the tokens, targets[N] the next token on the answer's rows and -1 elsewhere
// (the prompt, the padding after the last example that fits). It advances st and
// appends each example's place to placed.
func (c *baseCorpus) fill(inputs, targets []int, B, T int, st *baseState, placed []packedExample) ([]packedExample, error) {
	for b := range B {
		row := b * T
		pos, misses := 0, 0
		for {
			ids, p, err := c.encode(st.Next)
			if err != nil {
				return nil, err
			}
			if len(ids) > T {
				st.Next++
				st.Skipped++
				if misses++; misses > len(c.items) {
					return nil, fmt.Errorf("no example fits in a row of --seq %d tokens", T)
				}
				continue
			}
			if pos+len(ids) > T {
				break
			}
			for i, id := range ids {
				n := row + pos + i
				inputs[n], targets[n] = id, -1
				if i >= p-1 && i+1 < len(ids) {
					targets[n] = ids[i+1]
				}
			}
			placed = append(placed, packedExample{task: c.task[c.at(st.Next)], from: row + pos + p - 1, to: row + pos + len(ids) - 1})
			st.Tokens += int64(len(ids))
			st.Answer += int64(len(ids) - p)
			pos += len(ids)
			st.Next++
		}
		for n := row + pos; n < row+T; n++ {
			inputs[n], targets[n] = c.pad, -1
		}
	}
	return placed, nil
}

// argmax returns the index of x's largest value, the first one on ties.
func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// kernelNote says whether the binary was built with the vector kernels of model/train.
func kernelNote() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "GOEXPERIMENT" && strings.Contains(s.Value, "simd") {
				return "GOEXPERIMENT=simd"
			}
		}
	}
	return "built without GOEXPERIMENT=simd: portable kernels, 6–7× slower"
}

func count(n int) string { return count64(int64(n)) }

// count64 writes n with a k or M suffix.
func count64(n int64) string {
	switch {
	case n >= 10_000_000:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1_000_000:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 10_000:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
