package main

import (
	"testing"

	"github.com/t2web/t2web/model"
)

// TestRandomPresets checks each preset parses to its model's published shapes.
func TestRandomPresets(t *testing.T) {
	for _, tc := range []struct {
		name                                    string
		dim, ffn, layers, heads, kvHeads, vocab int
		qkvBias                                 bool
	}{
		{"llama-3.2-1b", 2048, 8192, 16, 32, 8, 128256, false},
		{"qwen2.5-0.5b", 896, 4864, 24, 14, 2, 151936, true},
		{"smollm2-360m", 960, 2560, 32, 15, 5, 49152, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := model.ParseConfig([]byte(randomPresets[tc.name]))
			if err != nil {
				t.Fatal(err)
			}
			got := [...]int{c.Dim, c.FFN, c.NLayers, c.NHeads, c.NKVHeads, c.VocabSize}
			want := [...]int{tc.dim, tc.ffn, tc.layers, tc.heads, tc.kvHeads, tc.vocab}
			if got != want || !c.TieEmbeddings || c.QKVBias != tc.qkvBias {
				t.Errorf("dim, ffn, layers, heads, kv heads, vocab = %v, tied %v, qkv bias %v; want %v, tied, qkv bias %v",
					got, c.TieEmbeddings, c.QKVBias, want, tc.qkvBias)
			}
		})
	}
	if len(randomPresets) != 3 {
		t.Errorf("%d presets, the table checks 3", len(randomPresets))
	}
}
