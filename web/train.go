//go:build js && wasm

package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/vugu/vugu"

	"github.com/t2web/t2web/svf/tasks"
	"github.com/t2web/t2web/wasm/protocol"
	"github.com/t2web/t2web/web/chart"
)

// Train is the few-shot view's "Train a new expert": a run of the trainer worker
// (trainer.js, started on the first run) on the view's valid rows, its progress and
// result. The few-shot view holds it and gives it its rows (examples).
type Train struct {
	*Shared
	examples func() []protocol.Example // the few-shot view's valid rows

	TrainName, TrainEpochs string // as typed
	TrainDomain            string // the new expert's domain, for the first pass; "" for none
	TrainFromBase          bool   // protocol.Train.FromBase
	Training               bool
	TrainLoad              protocol.Progress        // the trainer's download of the pack
	TrainSteps             []protocol.TrainProgress // the running or last run's iterations
	Trained                *protocol.Trained        // the last run's result
	TrainErr               string

	trainer *engine
}

// trainSplit says how the valid rows would be split: training and held-out examples.
func (c *Train) trainSplit() (train, val int) {
	n := len(c.examples())
	if n < 2 {
		return n, 0
	}
	val = tasks.HoldOut(n, protocol.DefaultTrain.ValShare)
	return n - val, val
}

func (c *Train) canTrain() bool {
	return c.Info != nil && c.Info.Pack != nil && !c.Training && c.State != stateLoading &&
		len(c.examples()) >= protocol.MinTrainExamples
}

// trainIntro says what training does with the rows there are, or what it needs.
func (c *Train) trainIntro() string {
	n := len(c.examples())
	if n < protocol.MinTrainExamples {
		return fmt.Sprintf("Teach the model a skill none of its experts has: with at least %d examples (%d valid now), the page trains a new expert on them, in a worker of its own, on this device.",
			protocol.MinTrainExamples, n)
	}
	train, val := c.trainSplit()
	return fmt.Sprintf("Trains a new expert (z only, the singular values' scales) on %d of the %d valid examples with the next-token loss on their outputs; %d (a fifth) are held out to measure it, and the iterate that answers most of them right is kept (of equals, the one that makes their outputs likeliest). It starts from the pack's expert that makes the examples' outputs likeliest, when one beats the base model, and runs on this device's CPU.",
		train, n, val)
}

// epochsHint is the epochs field's placeholder: the default for the rows there are
// (protocol.TrainEpochs), which an empty field asks for.
func (c *Train) epochsHint() string {
	train, _ := c.trainSplit()
	return "default " + strconv.FormatFloat(protocol.TrainEpochs(0, train), 'g', -1, 64)
}

// Train starts training a new expert on the valid rows.
func (c *Train) Train() {
	if !c.canTrain() {
		return
	}
	name := strings.TrimSpace(c.TrainName)
	for _, x := range c.Experts {
		if x.Name == name && x.Source == "pack" {
			c.TrainErr = fmt.Sprintf("%q is one of the pack's experts: pick another name", name)
			return
		}
	}
	// An empty field is the default, which depends on how many examples there are.
	var epochs float64
	var err error
	if typed := strings.TrimSpace(c.TrainEpochs); typed != "" {
		if epochs, err = strconv.ParseFloat(typed, 64); err != nil || !(epochs > 0) || epochs > 100 {
			c.TrainErr = fmt.Sprintf("epochs %q: want a number in (0, 100], or nothing for the default", c.TrainEpochs)
			return
		}
	}
	if c.trainer == nil {
		ee := c.ee
		if c.trainer, err = startEngine("trainer.js", "trainer", func(msgs [][]byte) {
			ee.Lock()
			for _, m := range msgs {
				c.trainerMessage(m)
			}
			ee.UnlockOnly()
			c.yielder.Yield()
			ee.Lock()
			ee.UnlockRender()
		}); err != nil {
			c.TrainErr = fmt.Sprintf("starting the trainer worker: %v", err)
			return
		}
	}
	req := protocol.Train{Type: protocol.TypeTrain, URL: c.Info.URL, Name: name, Examples: c.examples(),
		Epochs: epochs, Seed: 1, Kernels: c.Kernels, Source: "the few-shot view", FromBase: c.TrainFromBase,
		Domain: strings.TrimSpace(c.TrainDomain)}
	if c.local != nil {
		req.URL, req.Local = strings.TrimPrefix(c.Info.URL, "local folder "), true
		err = c.trainer.sendFiles(req, c.local)
	} else {
		err = c.trainer.send(req)
	}
	if err != nil {
		c.TrainErr = err.Error()
		return
	}
	c.Training, c.TrainSteps, c.Trained, c.TrainErr, c.TrainLoad = true, nil, nil, "", protocol.Progress{}
}

// StopTraining ends the run after its current iteration, keeping the best iterate.
func (c *Train) StopTraining() {
	if c.Training && c.trainer != nil {
		if err := c.trainer.send(protocol.Stop{Type: protocol.TypeStop}); err != nil {
			c.TrainErr = err.Error()
		}
	}
}

// trainerMessage applies one message of the trainer. The caller holds the lock.
func (c *Train) trainerMessage(data []byte) {
	typ, err := protocol.TypeOf(data)
	if err != nil {
		c.TrainErr = fmt.Sprintf("trainer message: %v", err)
		return
	}
	switch typ {
	case protocol.TypeProgress:
		err = json.Unmarshal(data, &c.TrainLoad)
	case protocol.TypeTrainProgress:
		var m protocol.TrainProgress
		if err = json.Unmarshal(data, &m); err == nil {
			if m.Expert != nil {
				c.keepTrained(m.Expert)
				m.Expert = nil
			}
			c.TrainSteps = append(c.TrainSteps, m)
		}
	case protocol.TypeTrained:
		var m protocol.Trained
		if err = json.Unmarshal(data, &m); err == nil {
			c.keepTrained(m.Expert)
			m.Expert = nil
			c.Trained, c.Training = &m, false
			c.Status = fmt.Sprintf("trained expert %q: %.0f %% of the held-out examples right (base model %.0f %%)", m.Name, 100*m.Best, 100*m.Base)
		}
	case protocol.TypeError:
		var m protocol.Error
		if err = json.Unmarshal(data, &m); err == nil {
			c.TrainErr, c.Training = m.Message, false
		}
	case protocol.TypeLog:
		var m protocol.Log
		if err = json.Unmarshal(data, &m); err == nil {
			consoleLog(m.Level, "trainer: "+m.Text)
		}
	default:
		err = fmt.Errorf("unknown type %q", typ)
	}
	if err != nil {
		c.TrainErr = fmt.Sprintf("trainer message %s: %v", typ, err)
	}
}

// keepTrained gives an expert file of the trainer to the engine, which keeps it as an
// imported expert (and the page saves it): the best iterate so far, then the result.
func (c *Train) keepTrained(data []byte) {
	name := strings.TrimSpace(c.TrainName)
	delete(c.savedExperts, name) // a better iterate of that name: save it again
	c.send(protocol.ImportExpert{Type: protocol.TypeImportExpert, Name: name, File: name + " (trained here)", Data: data})
}

// trainText is the run's progress line: iteration, epoch, loss, validation, time left.
func (c *Train) trainText() string {
	switch {
	case c.Training && len(c.TrainSteps) == 0:
		if p := c.TrainLoad; p.File != "" && p.Total > 0 && p.Loaded < p.Total {
			return fmt.Sprintf("loading the trainer and %s… %s of %s", p.File, bytesText(p.Loaded), bytesText(p.Total))
		}
		return "loading the trainer and the model, measuring the base model on the held-out examples…"
	case c.Training:
		s := c.TrainSteps[len(c.TrainSteps)-1]
		left := s.Ms / float64(s.Iter) * float64(s.Iters-s.Iter)
		return fmt.Sprintf("iteration %d of %d (epoch %.1f): loss %.3f; held-out accuracy best %.0f %% (base model %.0f %%); %s, about %s left",
			s.Iter, s.Iters, s.Epoch, s.Loss, 100*max(s.Best, 0), 100*s.Base, msText(s.Ms), msText(left))
	case c.Trained != nil:
		m := c.Trained
		s := fmt.Sprintf("Expert %q: %.0f %% of the held-out examples right, the base model %.0f %%, in %s", m.Name, 100*m.Best, 100*m.Base, msText(m.Ms))
		if m.Stopped {
			s += " (stopped; the best iterate is kept)"
		}
		return s + ". It is saved in this browser, in the experts view, and the chat and few-shot mixtures can use it."
	}
	return ""
}

// trainLossSVG and trainAccuracySVG plot the run: the batches' loss per iteration, and
// the held-out accuracy at each validation beside the base model's.
func (c *Train) trainLossSVG() vugu.HTML {
	var pts []chart.Point
	for _, s := range c.TrainSteps {
		pts = append(pts, chart.Point{Iter: s.Iter, V: s.Loss})
	}
	return vugu.HTML(chart.Line("training loss per iteration", c.trainIters(), "", 0, 0, []chart.Series{{Class: "loss", Name: "loss", Points: pts}}))
}

func (c *Train) trainAccuracySVG() vugu.HTML {
	var val, base []chart.Point
	for _, s := range c.TrainSteps {
		if s.Validation >= 0 {
			val = append(val, chart.Point{Iter: s.Iter, V: 100 * s.Validation})
			base = append(base, chart.Point{Iter: s.Iter, V: 100 * s.Base})
		}
	}
	return vugu.HTML(chart.Line("held-out accuracy per validation", c.trainIters(), " %", 0, 100, []chart.Series{{Class: "base", Name: "base model", Points: base}, {Class: "best", Name: "held-out accuracy", Points: val}}))
}

func (c *Train) trainIters() int {
	if n := len(c.TrainSteps); n > 0 {
		return c.TrainSteps[n-1].Iters
	}
	return 1
}

// trainTimes is the run's time at each iteration, in ms since it started, comma-separated
// (data-ms of the loss chart, which the page's benchmark reads).
func (c *Train) trainTimes() string {
	ms := make([]string, len(c.TrainSteps))
	for i, s := range c.TrainSteps {
		ms[i] = strconv.FormatFloat(s.Ms, 'f', 0, 64)
	}
	return strings.Join(ms, ",")
}
