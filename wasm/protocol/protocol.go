// Package protocol is the message protocol between the t2web page (web/, ui.wasm) and its
// engine worker (wasm/, engine.wasm).
//
// Messages travel by postMessage as plain JavaScript objects whose fields are the JSON
// encodings of the types below; "type" says which one a message is. The page sends
//
//	{type:"load", url}                                         Load
//	{type:"generate", prompt, chat, maxTokens, temperature, seed} Generate
//	{type:"stop"}                                              Stop
//
// and the worker answers with
//
//	{type:"progress", file, loaded, total}    Progress, while a load downloads
//	{type:"loaded", arch, layers, dim, …}     Loaded, once the model is ready
//	{type:"token", id, text}                  Token, one per generated token
//	{type:"done", ids, tokensPerSecond, …}    Done, when a generation ends
//	{type:"error", message}                   Error, when a request fails
//	{type:"log", level, text}                 Log, the worker's console output
//
// Requests are handled one at a time, in order; one that fails answers Error and nothing
// else. Stop is not queued: it ends the generations requested before it, the running one
// after its next token, and its Done has Stopped set.
package protocol

import (
	"encoding/json"
	"fmt"
)

// Message types, the "type" field of every message.
const (
	TypeLoad     = "load"
	TypeGenerate = "generate"
	TypeStop     = "stop"
	TypeProgress = "progress"
	TypeLoaded   = "loaded"
	TypeToken    = "token"
	TypeDone     = "done"
	TypeError    = "error"
	TypeLog      = "log"
)

// Load asks the worker to load a pack (a folder with pack.json) or a Hugging Face
// checkpoint folder.
type Load struct {
	Type string `json:"type"`
	URL  string `json:"url"` // the folder, relative to the page or absolute, e.g. "models/default/"
}

// Generate asks the worker to continue a prompt with the loaded model.
type Generate struct {
	Type        string  `json:"type"`
	Prompt      string  `json:"prompt"`
	Chat        bool    `json:"chat"`        // wrap the prompt in the model's chat template as a user turn
	MaxTokens   int     `json:"maxTokens"`   // at most this many new tokens
	Temperature float32 `json:"temperature"` // 0 is greedy
	Seed        uint64  `json:"seed"`
}

// Stop asks the worker to end the generations requested so far: the running one ends
// after its next token.
type Stop struct {
	Type string `json:"type"`
}

// Progress reports the download of one file of a checkpoint.
type Progress struct {
	Type   string `json:"type"`
	File   string `json:"file"`   // name inside the folder, e.g. "model.safetensors"
	Loaded int64  `json:"loaded"` // bytes received so far
	Total  int64  `json:"total"`  // bytes in all, -1 when the server does not say
}

// Loaded describes the model the worker has loaded.
type Loaded struct {
	Type    string `json:"type"`
	URL     string `json:"url"`
	Arch    string `json:"arch"`    // config.json "architectures"[0], e.g. "LlamaForCausalLM"
	Layers  int    `json:"layers"`  // transformer blocks
	Dim     int    `json:"dim"`     // hidden size D
	Vocab   int    `json:"vocab"`   // vocabulary size V
	Params  int64  `json:"params"`  // parameters, embeddings included
	Context int    `json:"context"` // positions the engine holds per sequence
	Chat    bool   `json:"chat"`    // the model has a chat template
	Engine  string `json:"engine"`  // "cpu"
	// Pack is set when the folder is a pack: its quantisation, adapted matrices and experts.
	Pack *PackInfo `json:"pack,omitempty"`
}

// PackInfo describes a loaded pack.
type PackInfo struct {
	Quant   string   `json:"quant"`   // "int8" or "f32"
	Targets []string `json:"targets"` // "mlp", "attn"
	Adapted int      `json:"adapted"` // adapted matrices
	Experts []string `json:"experts"` // the pack's experts, by name
}

// Token is one generated token and the text it completes. Text is empty while the token
// ends inside a UTF-8 sequence; the text then arrives with a later token (or Done.Text).
type Token struct {
	Type string `json:"type"`
	ID   int    `json:"id"`
	Text string `json:"text"`
}

// Done ends a generation.
type Done struct {
	Type         string `json:"type"`
	IDs          []int  `json:"ids"`          // the generated token ids, in order
	Text         string `json:"text"`         // text still held by the decoder at the end
	PromptTokens int    `json:"promptTokens"` // tokens of the prompt as the engine saw it
	Stopped      bool   `json:"stopped"`      // ended by a Stop request
	// PrefillTokensPerSecond is prompt tokens over the time to the first new token;
	// TokensPerSecond is the decode rate, new tokens after the first over their time.
	PrefillTokensPerSecond float64 `json:"prefillTokensPerSecond"`
	TokensPerSecond        float64 `json:"tokensPerSecond"`
}

// Error reports a failed request.
type Error struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// Log carries a line the worker wrote to its console, so the page can show it in its own.
type Log struct {
	Type  string `json:"type"`
	Level string `json:"level"` // "log", "warn" or "error"
	Text  string `json:"text"`
}

// TypeOf returns the "type" field of the JSON encoding of a message.
func TypeOf(data []byte) (string, error) {
	var m struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return "", fmt.Errorf("protocol: %w", err)
	}
	if m.Type == "" {
		return "", fmt.Errorf("protocol: message without a type: %.80s", data)
	}
	return m.Type, nil
}
