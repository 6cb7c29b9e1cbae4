package main

import (
	"fmt"
	"io"
	"time"

	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/tasks"
)

// cmdTrainExpert trains an SVF expert of a pack on a task with REINFORCE and adds it to
// the pack.
func cmdTrainExpert(args []string, stdout, stderr io.Writer) error {
	fs := flags("train-expert", "--pack DIR --task T --name N [--kl λ] [--lr 2e-3] [--clip 1e-3] [--batch 256] [--iters N] [--greedy|--sample]", stderr)
	d := svf.DefaultReinforce()
	packDir := fs.String("pack", "", "pack `folder`; the expert is added to it")
	taskName := fs.String("task", "", "task of the suite to train on (t2 tasks list); cls trains the classification expert")
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
	init := fs.String("init", "", "start from the pack's expert `name` (e.g. REINFORCE after the next-token loss) instead of z ≈ sigmoid(0.1)")
	objective := fs.String("objective", string(svf.Reinforce), "what training optimises: reinforce (rollouts rewarded by the task's checker) or ce (the next-token loss of the worked solutions)")
	fs.StringVar(&d.Checkpoint, "checkpoint", "", "`file` that keeps the run after each validation; an existing one is resumed")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *packDir == "" || *taskName == "" || d.Name == "" || fs.NArg() != 0 || (*greedy && *sample) {
		fs.Usage()
		return errUsage
	}
	d.Sample = !*greedy
	o, err := svf.ParseObjective(*objective)
	if err != nil {
		return err
	}
	d.Objective = o
	t, err := tasks.Lookup(*taskName)
	if err != nil {
		return err
	}
	d.Task = t
	if err := svf.CheckName(d.Name); err != nil {
		return err
	}
	p, err := svf.OpenDir(*packDir)
	if err != nil {
		return err
	}
	if *init != "" {
		x, err := p.Expert(*init)
		if err != nil {
			return fmt.Errorf("--init: %w", err)
		}
		d.Init, d.InitFrom = x.Z, "expert "+x.Name+" ("+x.Description+")"
	}
	start := time.Now()
	d.Progress = func(s svf.ReinforceStep) {
		val := ""
		if s.Validation >= 0 {
			val = fmt.Sprintf("  validation %.1f%% (best %.1f%%)", 100*s.Validation, 100*s.Best)
		}
		if d.Objective == svf.NextToken {
			fmt.Fprintf(stderr, "iter %d/%d  loss %.4f  token accuracy %.1f%%  |g| %.3g  %v%s\n",
				s.Iter, d.Iters, s.Loss, 100*s.TokenAccuracy, s.GradNorm, time.Since(start).Round(time.Second), val)
			return
		}
		fmt.Fprintf(stderr, "iter %d/%d  reward %+.3f  accuracy %.1f%%  loss %.4f  kl %.4f  |g| %.3g  %v%s\n",
			s.Iter, d.Iters, s.Reward, 100*s.Accuracy, s.Loss, s.KL, s.GradNorm, time.Since(start).Round(time.Second), val)
	}
	e, err := svf.TrainExpert(p, d)
	if err != nil {
		return err
	}
	if err := svf.SaveExpert(*packDir, p, e); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added expert %s to %s: validation accuracy %.1f%% (%s)\n", e.Name, *packDir, 100**e.Score, e.Trained)
	return nil
}
