package chat

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/t2web/t2web/model/fixtures"
)

// render is one entry of a fixture model's chat_template_renders.json, made by
// @huggingface/jinja.
type render struct {
	Name                string    `json:"name"`
	AddGenerationPrompt bool      `json:"add_generation_prompt"`
	Messages            []Message `json:"messages"`
	Rendered            string    `json:"rendered"`
}

// TestFixtureRenders holds every render of both fixture models to the oracle's, byte for byte.
func TestFixtureRenders(t *testing.T) {
	dir := fixtures.Root(t)
	for _, model := range []string{"llama-tiny", "qwen2-tiny"} {
		t.Run(model, func(t *testing.T) {
			config, err := os.ReadFile(filepath.Join(dir, model, "tokenizer_config.json"))
			if err != nil {
				t.Fatal(err)
			}
			tmpl, err := Load(config)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			data, err := os.ReadFile(filepath.Join(dir, model, "chat_template_renders.json"))
			if err != nil {
				t.Fatal(err)
			}
			var renders []render
			if err := json.Unmarshal(data, &renders); err != nil {
				t.Fatalf("chat_template_renders.json: %v", err)
			}
			if len(renders) == 0 {
				t.Fatal("chat_template_renders.json has no renders")
			}
			for _, r := range renders {
				got, err := tmpl.Render(r.Messages, r.AddGenerationPrompt)
				if err != nil {
					t.Errorf("%s, add_generation_prompt=%v: %v", r.Name, r.AddGenerationPrompt, err)
					continue
				}
				if got != r.Rendered {
					t.Errorf("%s, add_generation_prompt=%v:\n got %q\nwant %q", r.Name, r.AddGenerationPrompt, got, r.Rendered)
				}
			}
		})
	}
}
