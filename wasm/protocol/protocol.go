// Package protocol is the message protocol between the t2web page (web/, ui.wasm) and its
// engine worker (wasm/, engine.wasm).
//
// Messages travel by postMessage as plain JavaScript objects whose fields are the JSON
// encodings of the types below; "type" says which one a message is. The page sends
//
//	{type:"load", url, engine}                                 Load
//	{type:"generate", prompt, chat, maxTokens, temperature, seed} Generate
//	{type:"stop"}                                              Stop
//	{type:"bench", seconds}                                    Bench
//
// and the worker answers with
//
//	{type:"progress", file, loaded, total}    Progress, while a load downloads
//	{type:"loaded", arch, layers, dim, …}     Loaded, once the model is ready
//	{type:"token", id, text}                  Token, one per generated token
//	{type:"done", ids, tokensPerSecond, …}    Done, when a generation ends
//	{type:"benchResult", adapter, kernels}    BenchResult, the kernels' speeds
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
	TypeBench    = "bench"
	TypeProgress = "progress"
	TypeLoaded   = "loaded"
	TypeToken    = "token"
	TypeDone     = "done"
	TypeError    = "error"
	TypeLog      = "log"

	TypeBenchResult = "benchResult"
)

// Engines of Load and Loaded.
const (
	EngineAuto = ""    // WebGPU on a hardware adapter, else the CPU engine
	EngineCPU  = "cpu" // the CPU engine of package model, compiled to wasm
	EngineGPU  = "gpu" // the WebGPU engine of package shaders
)

// Load asks the worker to load a pack (a folder with pack.json) or a Hugging Face
// checkpoint folder.
type Load struct {
	Type string `json:"type"`
	URL  string `json:"url"` // the folder, relative to the page or absolute, e.g. "models/default/"
	// Engine picks the engine: EngineAuto (WebGPU when the browser has a hardware
	// adapter and the folder is a pack), EngineCPU, or EngineGPU (WebGPU even on a
	// software fallback adapter; an error when there is none or the folder is no pack).
	Engine string `json:"engine,omitempty"`
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
	Engine  string `json:"engine"`  // EngineCPU or EngineGPU
	// EngineReason says why the CPU engine runs when WebGPU was not forbidden, e.g.
	// "no WebGPU adapter: …"; empty on the GPU engine.
	EngineReason string `json:"engineReason,omitempty"`
	// Adapter is the browser's WebGPU adapter, when it has one (also when the CPU
	// engine runs).
	Adapter *Adapter `json:"adapter,omitempty"`
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

// Adapter describes a WebGPU adapter as the browser does (GPUAdapterInfo).
type Adapter struct {
	Vendor       string `json:"vendor"`       // e.g. "google"
	Architecture string `json:"architecture"` // e.g. "swiftshader"
	Device       string `json:"device"`
	Description  string `json:"description"`
	Fallback     bool   `json:"fallback"` // isFallbackAdapter: a software adapter
	// MaxStorageBinding is the device's maxStorageBufferBindingSize, in bytes.
	MaxStorageBinding int64 `json:"maxStorageBinding"`
}

// Bench asks the worker to time the GPU kernels on the browser's WebGPU adapter, each
// for about Seconds (0: 1 s): a plain copy, f32 and int8 matvecs, the SVF
// recomposition and a plain f32 matmul of the same shape. It fails without an adapter.
type Bench struct {
	Type    string  `json:"type"`
	Seconds float64 `json:"seconds"`
}

// BenchResult gives the speed of each kernel of a Bench.
type BenchResult struct {
	Type    string        `json:"type"`
	Adapter *Adapter      `json:"adapter"`
	Kernels []KernelSpeed `json:"kernels"`
}

// KernelSpeed is one timed kernel: GB/s counts the bytes it must move (weights for a
// matvec, read plus written for a copy), GFLOP/s its multiply-adds times 2.
type KernelSpeed struct {
	Name    string  `json:"name"` // e.g. "matvec-q8/1536x576"
	Runs    int     `json:"runs"`
	Seconds float64 `json:"seconds"` // per run
	GBps    float64 `json:"gbps,omitempty"`
	GFLOPs  float64 `json:"gflops,omitempty"`
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
