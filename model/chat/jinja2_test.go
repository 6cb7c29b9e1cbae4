package chat

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// jinja2Renders is testdata/jinja2_renders.json: templates rendered by Python Jinja2 as
// transformers renders them, made by testdata/jinja2_renders.py.
type jinja2Renders struct {
	Jinja2    string `json:"jinja2"`
	Templates []struct {
		Name     string `json:"name"`
		Source   string `json:"source"`
		BOSToken string `json:"bos_token"`
		EOSToken string `json:"eos_token"`
		Renders  []struct {
			Conversation        string    `json:"conversation"`
			AddGenerationPrompt bool      `json:"add_generation_prompt"`
			Messages            []Message `json:"messages"`
			Rendered            *string   `json:"rendered"`
			Error               string    `json:"error"`
		} `json:"renders"`
	} `json:"templates"`
}

// TestJinja2Renders holds our renders to Python Jinja2's over conversations the fixtures
// lack: Qwen3 <think> and tool turns, Llama 2's raise_exception, the variables a template
// sees, lstrip_blocks/trim_blocks around indented tags.
func TestJinja2Renders(t *testing.T) {
	data, err := os.ReadFile("testdata/jinja2_renders.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden jinja2Renders
	if err := json.Unmarshal(data, &golden); err != nil {
		t.Fatalf("jinja2_renders.json: %v", err)
	}
	for _, tc := range golden.Templates {
		t.Run(tc.Name, func(t *testing.T) {
			tmpl, err := New(tc.Source, tc.BOSToken, tc.EOSToken)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			for _, r := range tc.Renders {
				got, err := tmpl.Render(r.Messages, r.AddGenerationPrompt)
				switch {
				case r.Error != "" && err == nil:
					t.Errorf("%s, add_generation_prompt=%v: got %q, want error %q", r.Conversation, r.AddGenerationPrompt, got, r.Error)
				case r.Error != "" && !strings.Contains(err.Error(), r.Error):
					t.Errorf("%s, add_generation_prompt=%v: error %q does not contain %q", r.Conversation, r.AddGenerationPrompt, err, r.Error)
				case r.Error == "" && err != nil:
					t.Errorf("%s, add_generation_prompt=%v: %v", r.Conversation, r.AddGenerationPrompt, err)
				case r.Error == "" && got != *r.Rendered:
					t.Errorf("%s, add_generation_prompt=%v:\n got %q\nwant %q", r.Conversation, r.AddGenerationPrompt, got, *r.Rendered)
				}
			}
		})
	}
}

// TestJinja2Whitespace holds our renders to Python Jinja2's over random templates of
// text, tags and whitespace (testdata/jinja2_whitespace.json, made by
// testdata/jinja2_whitespace.py): the "-" and "+" markers, trim_blocks, lstrip_blocks,
// comments, {% raw %} and "\r\n", which the engine alone gets wrong in most of them.
func TestJinja2Whitespace(t *testing.T) {
	data, err := os.ReadFile("testdata/jinja2_whitespace.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		Cases []struct {
			Source   string  `json:"source"`
			Rendered *string `json:"rendered"`
			Error    string  `json:"error"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &golden); err != nil {
		t.Fatalf("jinja2_whitespace.json: %v", err)
	}
	for _, c := range golden.Cases {
		tmpl, err := New(c.Source, "", "")
		var got string
		if err == nil {
			got, err = tmpl.Render(nil, false)
		}
		switch {
		case c.Rendered == nil && err == nil:
			t.Errorf("%q: got %q, want an error like Jinja2's %q", c.Source, got, c.Error)
		case c.Rendered != nil && err != nil:
			t.Errorf("%q: %v", c.Source, err)
		case c.Rendered != nil && got != *c.Rendered:
			t.Errorf("%q:\n got %q\nwant %q", c.Source, got, *c.Rendered)
		}
	}
}
