package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/learn"
	"github.com/t2web/t2web/svf/tasks"
	"github.com/t2web/t2web/wasm/protocol"
)

// cmdTrainExpert trains an SVF expert of a pack on a task of the suite, or on a person's
// examples, and adds it to the pack. An interrupt (Ctrl-C) stops it after the iteration
// under way and keeps the best iterate so far.
func cmdTrainExpert(args []string, stdout, stderr io.Writer) error {
	fs := flags("train-expert", "--pack DIR (--task T | --examples FILE) --name N [--objective reinforce|ce] [--kl λ] [--lr 2e-3] [--clip 1e-3] [--batch 256] [--iters N] [--greedy|--sample]", stderr)
	d := learn.DefaultReinforce()
	packDir := fs.String("pack", "", "pack `folder`; the expert is added to it")
	taskName := fs.String("task", "", "task of the suite to train on (t2 tasks list); cls trains the classification expert")
	examplesFile := fs.String("examples", "", "train on these examples instead of a task: a `file` as few-shot adaptation reads (JSONL input/output, or CSV), outputs worked answers")
	valShare := fs.Float64("val-share", protocol.DefaultTrain.ValShare, "with --examples, the `share` of them held out to validate on")
	epochs := fs.Float64("epochs", 0, "with --examples, train this many `passes` over them (instead of --iters), validating after each, as the page does: 6, or enough to go through 320 examples, unless --iters is given. With --examples, --objective, --batch and --lr default to the page's (ce, 20 or all the examples if fewer, 1e-2) and --micro to the batch")
	fs.StringVar(&d.Domain, "domain", "", "with --examples, the new expert's `domain` (math, code, reasoning), for the first pass to pick it; none by default")
	fs.StringVar(&d.Name, "name", "", "expert `name`")
	fs.Float64Var(&d.KL, "kl", 0, "weight `λ` of KL(π_W' ‖ π_W)")
	fs.Float64Var(&d.LR, "lr", d.LR, "Adam learning `rate`")
	fs.Float64Var(&d.Clip, "clip", d.Clip, "global gradient-`norm` clip")
	fs.IntVar(&d.Batch, "batch", d.Batch, "rollouts per iteration")
	fs.IntVar(&d.Micro, "micro", d.Micro, "sequences per forward/backward pass")
	fs.IntVar(&d.Iters, "iters", d.Iters, "iterations")
	greedy := fs.Bool("greedy", false, "greedy rollouts")
	sample := fs.Bool("sample", false, "rollouts sampled at temperature 1 (the default)")
	fs.Var(float32Flag{&d.Temperature}, "temperature", "sampling `temperature` of the rollouts (1, the reference's)")
	fs.BoolVar(&d.Baseline, "baseline", false, "subtract the batch's mean reward from every reward (not in the reference; helps small models)")
	fs.IntVar(&d.ValEvery, "val-every", d.ValEvery, "validate every `k` iterations")
	fs.IntVar(&d.ValN, "val-n", d.ValN, "validation questions")
	fs.IntVar(&d.MaxTokens, "max-tokens", d.MaxTokens, "longest answer in `tokens`")
	fs.IntVar(&d.SeqLen, "seq-len", d.SeqLen, "longest prompt and answer in `tokens`")
	fs.Uint64Var(&d.Seed, "seed", d.Seed, "random `seed`: questions, rollouts, initial p")
	starts := fs.Bool("start-from-experts", false, "start from the pack's expert (but cls) that answers the most validation questions, when one answers more than the base model")
	init := fs.String("init", "", "start from the pack's expert `name` (e.g. REINFORCE after the next-token loss) instead of z ≈ sigmoid(0.1)")
	objective := fs.String("objective", string(learn.Reinforce), "what training optimises: reinforce (rollouts rewarded by the task's checker) or ce (the next-token loss of the worked solutions)")
	fs.StringVar(&d.Checkpoint, "checkpoint", "", "`file` that keeps the run after each validation; an existing one is resumed")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *packDir == "" || (*taskName == "") == (*examplesFile == "") || d.Name == "" || fs.NArg() != 0 || (*greedy && *sample) {
		fs.Usage()
		return errUsage
	}
	d.Sample = !*greedy
	o, err := learn.ParseObjective(*objective)
	if err != nil {
		return err
	}
	d.Objective = o
	if *examplesFile != "" {
		if err := readTrainingExamples(&d, *examplesFile, *valShare); err != nil {
			return err
		}
		// As the page: sequences as long as the longest example needs, answers half again
		// as long as the longest output, unless given.
		if !flagSet(fs, "seq-len") {
			d.SeqLen = 0
		}
		if !flagSet(fs, "max-tokens") {
			d.MaxTokens = 0
		}
		// Unless given, the page's defaults (protocol.DefaultTrain): the next-token loss
		// of the outputs, batches of 20, lr 1e-2, six epochs or more (TrainEpochs). The task defaults
		// (REINFORCE, 256 rollouts an iteration, 100 iterations) would run a thousand
		// epochs of a few dozen examples.
		pd := protocol.DefaultTrain
		if !flagSet(fs, "objective") {
			d.Objective = learn.NextToken
		}
		if !flagSet(fs, "batch") {
			d.Batch = pd.Batch
		}
		if !flagSet(fs, "lr") {
			d.LR = pd.LR
		}
		if *epochs == 0 && !flagSet(fs, "iters") {
			*epochs = protocol.TrainEpochs(0, len(d.Examples))
		}
		if *epochs > 0 {
			d.Batch = min(d.Batch, len(d.Examples))
			d.Iters, d.ValEvery = learn.EpochIters(*epochs, len(d.Examples), d.Batch)
		}
		if !flagSet(fs, "micro") {
			d.Micro = d.Batch // the whole batch in one pass, as the page's trainer
		}
	} else {
		t, err := tasks.Lookup(*taskName)
		if err != nil {
			return err
		}
		d.Task = t
	}
	if err := svf.CheckName(d.Name); err != nil {
		return err
	}
	p, err := svf.OpenDir(*packDir)
	if err != nil {
		return err
	}
	// The default sequence length fits the model; one given that does not is an error.
	if maxPos := p.Config.MaxPositions; d.SeqLen > maxPos {
		if flagSet(fs, "seq-len") {
			return fmt.Errorf("--seq-len %d: the model's context (max_position_embeddings) is %d", d.SeqLen, maxPos)
		}
		d.SeqLen = maxPos
	}
	if *starts && *init == "" {
		if d.Starts, err = p.DomainExperts(); err != nil {
			return err
		}
	}
	if *init != "" {
		x, err := p.Expert(*init)
		if err != nil {
			return fmt.Errorf("--init: %w", err)
		}
		d.Init, d.InitFrom = x.Z, "expert "+x.Name+" ("+x.Description+")"
	}
	start := time.Now()
	d.Progress = func(s learn.ReinforceStep) {
		val := ""
		if s.Validation >= 0 {
			val = fmt.Sprintf("  validation %.1f%% (best %.1f%%)", 100*s.Validation, 100*s.Best)
		}
		if d.Objective == learn.NextToken {
			fmt.Fprintf(stderr, "iter %d/%d  loss %.4f  token accuracy %.1f%%  |g| %.3g  %v%s\n",
				s.Iter, d.Iters, s.Loss, 100*s.TokenAccuracy, s.GradNorm, time.Since(start).Round(time.Second), val)
			return
		}
		fmt.Fprintf(stderr, "iter %d/%d  reward %+.3f  accuracy %.1f%%  loss %.4f  kl %.4f  |g| %.3g  %v%s\n",
			s.Iter, d.Iters, s.Reward, 100*s.Accuracy, s.Loss, s.KL, s.GradNorm, time.Since(start).Round(time.Second), val)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	e, err := learn.TrainExpert(ctx, p, d)
	if err != nil {
		return err
	}
	if err := svf.SaveExpert(*packDir, p, e); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added expert %s to %s: validation accuracy %.1f%% (%s)\n", e.Name, *packDir, 100**e.Score, e.Trained)
	return nil
}

// readTrainingExamples reads a person's examples for train-expert and splits them into
// training and validation examples.
func readTrainingExamples(d *learn.ReinforceOptions, file string, share float64) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	ex, err := tasks.ReadExamples(data, file)
	if err != nil {
		return err
	}
	// The page's rule: a fifth held out of fewer than 20 is too few items to tell the
	// best iterate from noise.
	if len(ex) < protocol.MinTrainExamples {
		return fmt.Errorf("%s: %d examples; training an expert needs at least %d (a fifth of them are held out to keep the best iterate)", file, len(ex), protocol.MinTrainExamples)
	}
	if d.Examples, d.Validation, err = learn.SplitExamples(ex, share, d.Seed); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	d.Source = fmt.Sprintf("%d examples of %s", len(d.Examples), filepath.Base(file))
	d.ValN = len(d.Validation)
	return nil
}

// flagSet reports whether the flag called name was given.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
