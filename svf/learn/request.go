package learn

import (
	"fmt"

	"github.com/t2web/t2web/svf"
	"github.com/t2web/t2web/svf/tasks"
	"github.com/t2web/t2web/wasm/protocol"
)

// RequestOptions turns the page's Train request into TrainExpert's options,
// protocol.DefaultTrain's where it is silent (the trainer worker's and the results
// table's); the examples' problems are errors that name them.
func RequestOptions(req protocol.Train) (ReinforceOptions, error) {
	d := protocol.DefaultTrain
	o := DefaultReinforce()
	if err := svf.CheckName(req.Name); err != nil {
		return o, err
	}
	if len(req.Examples) < protocol.MinTrainExamples {
		return o, fmt.Errorf("train: %d examples; training a new expert needs at least %d (a fifth of them are held out to validate on)", len(req.Examples), protocol.MinTrainExamples)
	}
	pick := func(v, def float64) float64 {
		if v == 0 {
			return def
		}
		return v
	}
	share, lr := pick(req.ValShare, d.ValShare), pick(req.LR, d.LR)
	batch := req.Batch
	if batch == 0 {
		batch = d.Batch
	}
	if batch < 0 || req.Epochs < 0 || lr < 0 {
		return o, fmt.Errorf("train: batch %d, epochs %g, lr %g: want them > 0", batch, req.Epochs, lr)
	}
	ex := make([]tasks.Example, len(req.Examples))
	for i, x := range req.Examples {
		ex[i] = tasks.Example{Input: x.Input, Output: x.Output}
	}
	train, val, err := SplitExamples(ex, share, req.Seed)
	if err != nil {
		return o, err
	}
	batch = min(batch, len(train))
	o.Name, o.Domain, o.Objective, o.Examples, o.Validation = req.Name, req.Domain, NextToken, train, val
	o.Source = fmt.Sprintf("%d examples", len(train))
	if req.Source != "" {
		o.Source += " of " + req.Source
	}
	o.Batch, o.Micro, o.LR, o.Clip, o.Seed, o.SeqLen, o.MaxTokens = batch, batch, lr, 1e-3, req.Seed, 0, 0
	o.Iters, o.ValEvery = EpochIters(protocol.TrainEpochs(req.Epochs, len(train)), len(train), batch)
	return o, nil
}
