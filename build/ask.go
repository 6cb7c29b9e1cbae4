package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/shaders"
	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/tasks"
)

// Strategies of t2 ask.
const (
	strategyNone      = "none"
	strategyPrompt    = "prompt"
	strategyClsExpert = "cls-expert"
)

// packExperts returns every expert of the pack, in its index's order.
func packExperts(p *svf.Pack) ([]*svf.Expert, error) {
	infos, err := p.Experts()
	if err != nil {
		return nil, err
	}
	var out []*svf.Expert
	for _, info := range infos {
		x, err := p.Expert(info.Name)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

// firstPass returns the strategy called name over the pack's experts, run by e.
func firstPass(name string, m *model.Model, e model.Engine, p *svf.Pack, generate bool) (svf.Strategy, error) {
	if name == strategyNone {
		return svf.NoStrategy{}, nil
	}
	if name != strategyPrompt && name != strategyClsExpert {
		return nil, fmt.Errorf("--strategy %q, want none, prompt or cls-expert (few-shot: t2 adapt)", name)
	}
	experts, err := packExperts(p)
	if err != nil {
		return nil, err
	}
	var cls *svf.Expert
	if name == strategyClsExpert {
		if cls = svf.ClsExpert(experts); cls == nil {
			return nil, errors.New("--strategy cls-expert: the pack has no expert of domain cls (t2 train-expert --task cls)")
		}
	}
	d, err := svf.NewDispatch(m, e, experts, cls)
	if err != nil {
		return nil, err
	}
	d.Generate = generate
	return d, nil
}

// cmdAsk answers a question with Transformer²'s two passes: the first chooses an expert,
// the second answers with it.
func cmdAsk(args []string, stdout, stderr io.Writer) error {
	fs := flags("ask", "--pack DIR [--strategy prompt|cls-expert|none] [--engine cpu|gpu] \"question\"", stderr)
	packDir := fs.String("pack", "", "pack `folder` with experts")
	strategy := fs.String("strategy", strategyPrompt, "first pass: `prompt` (the model classifies the question), cls-expert (the same with the classification expert) or none")
	generate := fs.Bool("generate-label", false, "first pass: let the model write the label (the reference's way) instead of scoring every label in one pass")
	engine := addEngineFlag(fs)
	maxTokens := fs.Int("max-tokens", 128, "longest answer in `tokens`")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *packDir == "" || fs.NArg() != 1 || *maxTokens <= 0 {
		fs.Usage()
		return errUsage
	}
	question := fs.Arg(0)
	p, err := svf.OpenDir(*packDir)
	if err != nil {
		return err
	}
	e, m, closeEngine, err := openEngine(*engine, &source{pack: *packDir}, engineOptions{MaxSeqs: 8}, stderr)
	if err != nil {
		return err
	}
	defer closeEngine()
	s, err := firstPass(*strategy, m, e, p, *generate)
	if err != nil {
		return err
	}
	c, err := s.Choose(question)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "expert: %s (strategy %s)\n", c.Expert, c.Strategy)
	for _, l := range c.Labels {
		fmt.Fprintf(stdout, "  label %-10s log p %9.4f over %d tokens\n", l.Label, l.LogP, l.Tokens)
	}
	if c.Generated != "" {
		fmt.Fprintf(stdout, "  first pass wrote %q\n", c.Generated)
	}
	start := time.Now()
	if err := e.SetZ(c.Z); err != nil {
		return err
	}
	prompt, err := svf.Prompt(m, question)
	if err != nil {
		return err
	}
	e.Clear(0)
	dec := m.Tokenizer.NewDecoder(true)
	fmt.Fprintln(stdout, "answer:")
	// Output that cannot be written ends the answer after the token under way.
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	if _, err := shaders.Generate(ctx, e, prompt, model.Greedy(), *maxTokens, m.EOS, func(id int) {
		if _, err := io.WriteString(stdout, dec.Add(id)); err != nil {
			cancel(err)
		}
	}); err != nil {
		if cause := context.Cause(ctx); cause != nil {
			return cause // the write's error
		}
		return err
	}
	io.WriteString(stdout, dec.Flush()+"\n")
	second := time.Since(start)
	fmt.Fprintf(stdout, "first pass %v, second pass %v (%.0f %%)\n", c.Elapsed.Round(time.Millisecond), second.Round(time.Millisecond),
		100*c.Elapsed.Seconds()/max(second.Seconds(), 1e-9))
	return nil
}

// cmdAdapt fits a mixture of the pack's experts to a file of examples with CEM (few-shot
// adaptation) and can save it as a new expert.
func cmdAdapt(args []string, stdout, stderr io.Writer) error {
	fs := flags("adapt", "--pack DIR --examples FILE.jsonl [--score accuracy|likelihood] [--per-layer] [--save-expert NAME]", stderr)
	packDir := fs.String("pack", "", "pack `folder` with experts")
	examples := fs.String("examples", "", "JSONL or CSV `file` of {input, output} examples")
	opt := svf.DefaultFewShot()
	fs.StringVar(&opt.Score, "score", opt.Score, "`likelihood` of the reference answers, or accuracy of greedy answers (ties broken by likelihood)")
	fs.BoolVar(&opt.PerLayer, "per-layer", false, "one α per expert and layer")
	fs.IntVar(&opt.CEM.Iters, "iters", opt.CEM.Iters, "CEM iterations at most")
	fs.IntVar(&opt.CEM.Population, "population", opt.CEM.Population, "candidates per iteration")
	fs.IntVar(&opt.CEM.Elites, "elites", opt.CEM.Elites, "candidates the next distribution is fitted to")
	fs.Float64Var(&opt.CEM.MinStd, "min-std", opt.CEM.MinStd, "stop once every α's elite `std` is below this")
	fs.Uint64Var(&opt.CEM.Seed, "seed", opt.CEM.Seed, "random `seed`")
	fs.IntVar(&opt.MaxTokens, "max-tokens", opt.MaxTokens, "longest greedy answer in `tokens`")
	fs.StringVar(&opt.Scoring, "scoring", "", "score the population `batched` (in the same forward passes) or sequential (one candidate after another); default: the cheaper on the engine")
	expertList := fs.String("experts", "", "comma-separated experts to mix (default: every expert of the pack but cls)")
	save := fs.String("save-expert", "", "add the mixture to the pack as an expert `name`")
	engine := addEngineFlag(fs)
	maxSeqs := fs.Int("seqs", 64, "sequences the engine decodes together")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *packDir == "" || *examples == "" || fs.NArg() != 0 || *maxSeqs <= 0 {
		fs.Usage()
		return errUsage
	}
	if *save != "" {
		if err := svf.CheckName(*save); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(*examples)
	if err != nil {
		return err
	}
	exs, err := tasks.ReadExamples(data, *examples)
	if err != nil {
		return err
	}
	p, err := svf.OpenDir(*packDir)
	if err != nil {
		return err
	}
	experts, err := chooseExperts(p, *expertList)
	if err != nil {
		return err
	}
	e, m, closeEngine, err := openEngine(*engine, &source{pack: *packDir}, engineOptions{MaxSeqs: *maxSeqs}, stderr)
	if err != nil {
		return err
	}
	defer closeEngine()
	fmt.Fprintf(stderr, "adapt: %d examples, %d experts (%s), score %s, population %d, elites %d, at most %d iterations\n",
		len(exs), len(experts), expertNames(experts), opt.Score, opt.CEM.Population, opt.CEM.Elites, opt.CEM.Iters)
	start := time.Now()
	opt.CEM.Progress = func(s svf.CEMStep) {
		fmt.Fprintf(stderr, "iter %d/%d  best %.4f (tie %.4f)  mean %.4f  spread %.4f  α %s  %v\n", s.Iter, opt.CEM.Iters,
			s.Best.Value, s.Best.Tie, s.Mean, s.Spread, formatAlpha(s.Alpha), time.Since(start).Round(time.Millisecond))
	}
	// Ctrl-C stops the search after the iteration under way.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	f, err := svf.Adapt(ctx, m, e, experts, p.Manifest.Matrices, exs, opt)
	if err != nil {
		return err
	}
	c := f.Result()
	fmt.Fprintf(stdout, "mixture of %s: best %s %.4f after %d iterations (%s) in %v\n", strings.Join(c.Experts, ", "),
		opt.Score, c.CEM.Best.Value, len(c.CEM.History), c.CEM.Stopped, c.Elapsed.Round(time.Millisecond))
	for k, name := range c.Experts {
		fmt.Fprintf(stdout, "  α %-12s %s\n", name, formatAlpha(c.Alpha[k]))
	}
	if a := c.OnExamples; a != nil {
		fmt.Fprintf(stdout, "on the %d examples, greedy: base weights %d right, mixture %d right (%d candidates scored)\n",
			a.N, a.Base, a.Mixture, c.CEM.Scored)
		switch c.Picked {
		case "":
		case svf.PickedBase:
			fmt.Fprintln(stdout, "kept the base weights (z = 1): the mixture answers fewer of the examples right")
		default:
			fmt.Fprintf(stdout, "kept %s alone: it answers %d of the examples right, more than the mixture\n", c.Picked, a.Adapted)
		}
	}
	if *save == "" {
		return nil
	}
	score := c.CEM.Best.Value
	x := &svf.Expert{Name: *save, Description: "few-shot mixture fitted to " + *examples, Z: c.Z, Score: &score, MixOf: c.Experts, Alpha: c.Alpha,
		Trained: f.Trained(opt.Score)}
	if err := svf.SaveExpert(*packDir, p, x); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added expert %s to %s\n", *save, *packDir)
	return nil
}

// chooseExperts returns the experts named in list (comma-separated), or every expert of
// the pack but the classification one.
func chooseExperts(p *svf.Pack, list string) ([]*svf.Expert, error) {
	if list != "" {
		var out []*svf.Expert
		for _, name := range strings.Split(list, ",") {
			x, err := p.Expert(strings.TrimSpace(name))
			if err != nil {
				return nil, err
			}
			out = append(out, x)
		}
		return out, nil
	}
	out, err := p.DomainExperts()
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("the pack has no experts to mix (t2 train-expert, t2 expert new)")
	}
	return out, nil
}

func expertNames(xs []*svf.Expert) string {
	names := make([]string, len(xs))
	for i, x := range xs {
		names[i] = x.Name
	}
	return strings.Join(names, ", ")
}

func formatAlpha(a []float64) string {
	parts := make([]string, len(a))
	for i, v := range a {
		parts[i] = fmt.Sprintf("%.3f", v)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
