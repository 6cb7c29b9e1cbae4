package train_test

import (
	"bytes"
	"fmt"
	"log"
	"testing/fstest"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/model/safetensors"
	"github.com/t2web/t2web/model/train"
)

// Train a tiny model to continue a counting sequence, then hand it to package model.
func Example() {
	cfg, err := model.ParseConfig([]byte(`{"architectures": ["LlamaForCausalLM"], "vocab_size": 16,
	  "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
	  "num_key_value_heads": 2, "max_position_embeddings": 64, "rms_norm_eps": 1e-5}`))
	if err != nil {
		log.Fatal(err)
	}
	const B, T = 4, 12
	m, err := train.New[float32](cfg, train.Options{B: B, T: T, Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	opt := train.NewAdamW(train.DefaultAdamW(), len(m.Params))
	opt.Decay = m.MatrixSpans()
	opt.LR = 1e-2

	inputs, targets := make([]int, B*T), make([]int, B*T)
	for n := range inputs {
		inputs[n] = (n/T + n%T) % 16 // sequence b counts up from b
		targets[n] = (inputs[n] + 1) % 16
	}
	var first, last float64
	for step := range 60 {
		m.ZeroGrad()
		loss, err := m.Forward(inputs, targets, nil)
		if err != nil {
			log.Fatal(err)
		}
		m.Backward()
		opt.Update(m.Params, m.Grads)
		if step == 0 {
			first = loss
		}
		last = loss
	}
	fmt.Printf("loss fell from %.1f: %v\n", first, last < first/4)

	// model.safetensors for a checkpoint folder, as model.Load reads it.
	var buf bytes.Buffer
	if err := m.WriteSafetensors(&buf); err != nil {
		log.Fatal(err)
	}
	ck, err := safetensors.OpenCheckpoint(fstest.MapFS{"model.safetensors": {Data: buf.Bytes()}})
	if err != nil {
		log.Fatal(err)
	}
	defer ck.Close()
	w, err := model.LoadWeights(cfg, ck)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("layers:", len(w.Layers))
	// Output:
	// loss fell from 2.8: true
	// layers: 2
}
