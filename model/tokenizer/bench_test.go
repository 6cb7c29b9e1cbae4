package tokenizer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/t2web/t2web/model/fixtures"
)

// benchCorpus is the fixture corpus joined: English, code, numbers, whitespace runs,
// many scripts and emoji.
func benchCorpus(b *testing.B, model string) string {
	var lines []string
	for _, l := range readCorpus(b, model) {
		lines = append(lines, l.Text)
	}
	return strings.Join(lines, "\n")
}

func BenchmarkEncode(b *testing.B) {
	for _, model := range fixtureModels {
		b.Run(model, func(b *testing.B) {
			tok := loadFixture(b, model)
			text := benchCorpus(b, model)
			n := len(tok.Encode(text, false))
			b.SetBytes(int64(len(text)))
			b.ResetTimer()
			for b.Loop() {
				tok.Encode(text, false)
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tok/s")
		})
	}
	b.Run("sentencepiece", func(b *testing.B) {
		tok := loadSP(b, llama2Layout)
		text := strings.Repeat("hello world hi 🙂 é ü ", 100)
		b.SetBytes(int64(len(text)))
		for b.Loop() {
			tok.Encode(text, false)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	tok := loadFixture(b, "llama-tiny")
	text := benchCorpus(b, "llama-tiny")
	ids := tok.Encode(text, false)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		tok.Decode(ids, false)
	}
}

func BenchmarkLoad(b *testing.B) {
	for _, model := range fixtureModels {
		b.Run(model, func(b *testing.B) {
			data, err := os.ReadFile(filepath.Join(fixtures.Root(b), model, "tokenizer.json"))
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Load(data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
