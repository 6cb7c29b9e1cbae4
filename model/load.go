package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/t2web/t2web/model/chat"
	"github.com/t2web/t2web/model/safetensors"
	"github.com/t2web/t2web/model/tokenizer"
)

// Model is a Hugging Face checkpoint folder loaded into memory.
type Model struct {
	Config    *Config
	Tokenizer *tokenizer.Tokenizer
	Chat      *chat.Template // nil when tokenizer_config.json has no chat_template
	Weights   *Weights
	EOS       []int // tokens that end a generation: config.json's and generation_config.json's
}

// Load reads a checkpoint folder: config.json, model.safetensors (or its sharded index),
// tokenizer.json, tokenizer_config.json and, if present, generation_config.json.
func Load(fsys fs.FS) (*Model, error) {
	data, err := fs.ReadFile(fsys, "config.json")
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, err
	}
	m, err := LoadText(fsys, cfg)
	if err != nil {
		return nil, err
	}
	ck, err := safetensors.OpenCheckpoint(fsys)
	if err != nil {
		return nil, err
	}
	defer ck.Close()
	if m.Weights, err = LoadWeights(cfg, ck); err != nil {
		return nil, err
	}
	return m, nil
}

// The files of a model's text: LoadText reads them, in TextFiles' order.
const (
	generationConfigFile = "generation_config.json"
	tokenizerFile        = "tokenizer.json"
	tokenizerConfigFile  = "tokenizer_config.json"
)

// TextFiles names the files LoadText reads, in its order, for a caller that downloads
// them to start them all at once (the page's worker, webfs.FS.Prefetch).
func TextFiles() []string {
	return []string{generationConfigFile, tokenizerFile, tokenizerConfigFile}
}

// LoadText reads everything of a model but its weights from the files of a checkpoint
// folder (or a pack, which copies them unchanged): tokenizer.json, tokenizer_config.json
// (its chat template) and, if present, generation_config.json (more end tokens).
func LoadText(fsys fs.FS, cfg *Config) (*Model, error) {
	m := &Model{Config: cfg, EOS: slices.Clone(cfg.EOS)}
	data, err := fs.ReadFile(fsys, generationConfigFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("model: %w", err)
	default:
		var g struct {
			EOS json.RawMessage `json:"eos_token_id"`
		}
		if err := json.Unmarshal(data, &g); err != nil {
			return nil, fmt.Errorf("generation_config.json: %w", err)
		}
		ids, err := parseIDs(g.EOS)
		if err != nil {
			return nil, fmt.Errorf("generation_config.json: field eos_token_id: %w", err)
		}
		for _, id := range ids {
			if !slices.Contains(m.EOS, id) {
				m.EOS = append(m.EOS, id)
			}
		}
	}
	if data, err = fs.ReadFile(fsys, tokenizerFile); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if m.Tokenizer, err = tokenizer.Load(data); err != nil {
		return nil, err
	}
	if data, err = fs.ReadFile(fsys, tokenizerConfigFile); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	if m.Chat, err = chat.Load(data); err != nil && !errors.Is(err, chat.ErrNoTemplate) {
		return nil, err
	}
	return m, nil
}

// Prompt turns a user's text into the prompt's token ids: the text with the tokenizer's
// special tokens (e.g. BOS), or, with useChat, one user turn of the chat template
// ending with the assistant's header.
func (m *Model) Prompt(text string, useChat bool) ([]int, error) {
	if !useChat {
		return m.Tokenizer.Encode(text, true), nil
	}
	if m.Chat == nil {
		return nil, errors.New("model: chat: tokenizer_config.json has no chat_template")
	}
	s, err := m.Chat.Render([]chat.Message{{Role: "user", Content: text}}, true)
	if err != nil {
		return nil, err
	}
	// The template writes the special tokens itself.
	return m.Tokenizer.Encode(s, false), nil
}
