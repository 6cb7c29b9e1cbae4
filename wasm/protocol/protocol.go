// Package protocol is the message protocol between the t2web page (web/, ui.wasm) and its
// engine worker (wasm/, engine.wasm).
//
// Messages travel by postMessage as plain JavaScript objects whose fields are the JSON
// encodings of the types below; "type" says which one a message is. The page sends
//
//	{type:"load", url, engine, local}                          Load (+ files: name → File)
//	{type:"generate", prompt, chat, maxTokens, temperature, seed} Generate
//	{type:"stop"}                                              Stop
//	{type:"bench", seconds}                                    Bench
//	{type:"ask", question, history, strategy, maxTokens, …}    Ask, a two-pass answer
//	{type:"adapt", examples, score, perLayer, iters, …}        Adapt, few-shot CEM
//	{type:"experts"}                                           ListExperts
//	{type:"exportExpert", name, save}                          ExportExpert
//	{type:"importExpert", name, data}                          ImportExpert
//
// and the worker answers with
//
//	{type:"progress", file, loaded, total,…}  Progress, while a load downloads
//	{type:"loaded", arch, layers, dim, …}     Loaded, once the model is ready
//	{type:"token", id, text}                  Token, one per generated token
//	{type:"done", ids, tokensPerSecond, …}    Done, when a generation ends
//	{type:"benchResult", adapter, kernels}    BenchResult, the kernels' speeds
//	{type:"choice", expert, labels, alpha, …} Choice, an ask's first pass, before its tokens
//	{type:"adaptProgress", iter, best, mean…} AdaptProgress, per CEM iteration
//	{type:"adapted", name, alpha, best, …}    Adapted, when an adaptation ends
//	{type:"expertList", experts}              ExpertList, the experts and their z maps
//	{type:"expertFile", name, data, save}     ExpertFile, an exported expert
//	{type:"error", message}                   Error, when a request fails
//	{type:"log", level, text}                 Log, the worker's console output
//	{type:"store", href, body}                a downloaded shard for the page to hand
//	                                          to sw.js's offline copy (PostStore; body an
//	                                          ArrayBuffer, so not JSON)
//
// The trainer worker (wasm/trainer, trainer.wasm, started by trainer.js only when a
// person trains an expert) takes
//
//	{type:"train", url, local, examples, valShare, name, …}   Train (+ files, as Load)
//	{type:"stop"}                                             Stop: keep the best so far
//
// and answers Progress while it downloads the pack, TrainProgress per iteration (with
// the best expert so far as a file whenever a validation finds a better one), then
// Trained, or Error.
//
// Requests are handled one at a time, in order; one that fails answers Error and nothing
// else. Stop is not queued: it ends the generations, asks and adaptations requested before it:
// a generation after its next token (its Done has Stopped set), an adaptation after its
// current CEM iteration (it answers Error with Stopped set, and keeps nothing).
//
// An ask answers Choice (the first pass: the expert or mixture chosen and why), then
// Token messages and Done, as a generation; a compared ask first answers with the base
// weights (Token and Done with base set), then with the chosen z. An adaptation answers AdaptProgress per
// iteration, then Adapted; the mixture stays in the worker under its name, for asks with
// strategy "expert:NAME" (or "mixture", the latest one) and for ExportExpert.
package protocol

import (
	"encoding/json"
	"fmt"
	"math"
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
	TypeStore    = "store"

	TypeBenchResult = "benchResult"

	TypeAsk           = "ask"
	TypeAdapt         = "adapt"
	TypeListExperts   = "experts"
	TypeExportExpert  = "exportExpert"
	TypeImportExpert  = "importExpert"
	TypeChoice        = "choice"
	TypeAdaptProgress = "adaptProgress"
	TypeAdapted       = "adapted"
	TypeExpertList    = "expertList"
	TypeExpertFile    = "expertFile"

	TypeTrain         = "train"
	TypeTrainProgress = "trainProgress"
	TypeTrained       = "trained"
)

// Strategies of Ask: the first pass of Transformer² (ARCHITECTURE §1).
const (
	StrategyNone      = "none"       // the base weights
	StrategyPrompt    = "prompt"     // the model classifies the question; the label's expert answers
	StrategyClsExpert = "cls-expert" // the same with the pack's classification expert applied
	StrategyMixture   = "mixture"    // the latest Adapt's mixture
	StrategyExpert    = "expert:"    // prefix: "expert:NAME" answers with the expert or mixture NAME
)

// Ask asks the worker for a two-pass answer: the first pass picks z by Strategy, the
// second answers Question with it. History holds the conversation's earlier turns, which
// the second pass renders with the chat template before Question (the first pass sees
// Question alone).
type Ask struct {
	Type        string    `json:"type"`
	Question    string    `json:"question"`
	History     []Message `json:"history,omitempty"`
	Strategy    string    `json:"strategy"`
	MaxTokens   int       `json:"maxTokens"`
	Temperature float32   `json:"temperature"` // 0 is greedy
	Seed        uint64    `json:"seed"`
	// Compare answers twice after the first pass: with the base weights first (its
	// Token and Done messages have Base set), then with the chosen z, so that the two
	// answers can be read side by side. When the first pass chooses the base weights
	// there is one answer, as without Compare.
	Compare bool `json:"compare,omitempty"`
}

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"` // "user" or "assistant"
	Content string `json:"content"`
}

// Choice is an ask's first pass: the expert (or mixture) chosen, and the evidence.
type Choice struct {
	Type     string `json:"type"`
	Strategy string `json:"strategy"`
	Expert   string `json:"expert"` // the expert or mixture answering, "base" for the base weights
	// Labels are the classification labels' log-likelihoods (prompt, cls-expert), best first.
	Labels []LabelScore `json:"labels,omitempty"`
	// Experts and Alpha describe a mixture: Alpha[k] weighs Experts[k] (one number, or one
	// per layer).
	Experts []string    `json:"experts,omitempty"`
	Alpha   [][]float64 `json:"alpha,omitempty"`
	FirstMs float64     `json:"firstMs"` // the first pass's time
}

// LabelScore is one label of the classification prompt.
type LabelScore struct {
	Label  string  `json:"label"`
	Expert string  `json:"expert"` // the expert the label dispatches to, "" for other
	LogP   float64 `json:"logp"`   // log-likelihood of the label and the end of the turn
}

// Example is one few-shot example.
type Example struct {
	Input  string `json:"input"`
	Output string `json:"output"`
}

// Adapt asks the worker to fit a mixture of the pack's experts (all but the
// classification one) to Examples with the cross-entropy method, and to keep it as
// expert Name.
type Adapt struct {
	Type       string    `json:"type"`
	Name       string    `json:"name"` // the mixture's name (svf.CheckName), "task" when empty
	Examples   []Example `json:"examples"`
	Score      string    `json:"score,omitempty"` // "likelihood" or "accuracy"; "": DefaultAdapt's
	PerLayer   bool      `json:"perLayer,omitempty"`
	Iters      int       `json:"iters,omitempty"`      // 0: DefaultAdapt's
	Population int       `json:"population,omitempty"` // 0: DefaultAdapt's
	Elites     int       `json:"elites,omitempty"`     // 0: DefaultAdapt's, at most a quarter of Population
	MaxTokens  int       `json:"maxTokens,omitempty"`  // longest greedy answer of the accuracy score; 0: 100
	Seed       uint64    `json:"seed"`
}

// DefaultAdapt is the adaptation a request's zero fields stand for, and what the page's
// few-shot view offers: svf.DefaultFewShot's settings (a test holds them equal).
var DefaultAdapt = Adapt{Score: "likelihood", Iters: 8, Population: 8, Elites: 2}

// AdaptProgress reports one CEM iteration.
type AdaptProgress struct {
	Type   string    `json:"type"`
	Iter   int       `json:"iter"`  // from 1
	Iters  int       `json:"iters"` // at most
	Best   float64   `json:"best"`  // best score so far
	Mean   float64   `json:"mean"`  // mean score of this iteration's population
	Spread float64   `json:"spread"`
	Alpha  []float64 `json:"alpha"` // best α so far, flat (expert-major when per layer)
	Ms     float64   `json:"ms"`    // since the adaptation started
}

// Adapted ends an adaptation: the mixture, now kept as expert Name.
type Adapted struct {
	Type    string      `json:"type"`
	Name    string      `json:"name"`
	Experts []string    `json:"experts"`
	Alpha   [][]float64 `json:"alpha"` // Alpha[k] weighs Experts[k]: one number, or one per layer
	Score   string      `json:"score"`
	Best    float64     `json:"best"`
	History []IterScore `json:"history"`
	Stopped string      `json:"stopped"` // why CEM ended
	Scored  int         `json:"scored"`  // candidates scored
	Ms      float64     `json:"ms"`
	// OnExamples is how many of the examples the base weights and the mixture answer
	// right, greedily, measured after the search.
	OnExamples *ExampleAccuracy `json:"onExamples,omitempty"`
	// Picked: what was kept instead of the mixture because it answered more of the
	// examples right: an expert's name (alone), "base" (the base weights), or "".
	Picked string `json:"picked,omitempty"`
}

// PickedBase is Adapted.Picked when the base weights were kept.
const PickedBase = "base"

// ExampleAccuracy is the greedy accuracy of the base weights, the fitted mixture and
// the adapted expert on N few-shot examples.
type ExampleAccuracy struct {
	N       int `json:"n"`
	Base    int `json:"base"`    // the base weights
	Mixture int `json:"mixture"` // the mixture CEM fitted
	Adapted int `json:"adapted"` // what the adapted expert answers with (Adapted.Picked)
}

// IterScore is one iteration of a CEM history.
type IterScore struct {
	Best float64 `json:"best"`
	Mean float64 `json:"mean"`
}

// ListExperts asks for the experts the worker has: the pack's, adapted and imported ones.
type ListExperts struct {
	Type string `json:"type"`
}

// ExpertList answers ListExperts, Adapt and ImportExpert.
type ExpertList struct {
	Type    string       `json:"type"`
	Experts []ExpertCard `json:"experts"`
}

// ExpertCard describes one expert, with a map of its z.
type ExpertCard struct {
	Name        string   `json:"name"`
	Source      string   `json:"source"` // "pack", "adapted" or "imported"
	Domain      string   `json:"domain,omitempty"`
	Description string   `json:"description,omitempty"`
	Trained     string   `json:"trained,omitempty"`
	Score       *float64 `json:"score"`
	// MixOf and Alpha: a mixture's experts and α (svf.Expert), also after a reload.
	MixOf []string    `json:"mixOf,omitempty"`
	Alpha [][]float64 `json:"alpha,omitempty"`
	// Heat is mean |z−1| per layer (rows) and matrix kind (columns, Kinds), e.g.
	// "mlp.gate_proj"; -1 where the layer has no such adapted matrix.
	Kinds []string    `json:"kinds"`
	Heat  [][]float64 `json:"heat"`
}

// ExportExpert asks for expert Name as a .safetensors file. Save is the page's own
// mark, returned in ExpertFile: the file is to be stored in the browser, not downloaded.
type ExportExpert struct {
	Type string `json:"type"`
	Name string `json:"name"`
	Save bool   `json:"save,omitempty"`
}

// ExpertFile is an expert's .safetensors bytes (base64 in JSON); Save is ExportExpert's.
type ExpertFile struct {
	Type string `json:"type"`
	Name string `json:"name"`
	Data []byte `json:"data"`
	Save bool   `json:"save,omitempty"`
}

// ImportExpert gives the worker an expert file (as ExportExpert writes, or t2's
// experts/NAME.safetensors); it is kept as Name, or under the name in the file when
// Name is empty, and answered with ExpertList.
type ImportExpert struct {
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
	File string `json:"file"` // the file's name, for errors
	Data []byte `json:"data"`
}

// Train asks the trainer worker to train a new expert, z only, on Examples with the
// next-token objective on their outputs (learn.TrainExpert): ValShare of them are held out
// to validate on, and the best iterate on them is the expert.
type Train struct {
	Type     string    `json:"type"`
	URL      string    `json:"url"`             // the pack, as Load's
	Local    bool      `json:"local,omitempty"` // as Load's: the message carries files
	Name     string    `json:"name"`            // the new expert's name (svf.CheckName)
	Domain   string    `json:"domain,omitempty"`
	Source   string    `json:"source,omitempty"` // where the examples came from, for its card
	Examples []Example `json:"examples"`
	ValShare float64   `json:"valShare,omitempty"` // 0: DefaultTrain's
	Epochs   float64   `json:"epochs,omitempty"`   // 0: DefaultTrain's; iterations = ⌈epochs·train/batch⌉
	Batch    int       `json:"batch,omitempty"`    // examples per iteration; 0: DefaultTrain's
	LR       float64   `json:"lr,omitempty"`       // Adam's learning rate; 0: DefaultTrain's
	Seed     uint64    `json:"seed"`
	Kernels  string    `json:"kernels,omitempty"` // as Load's
	// FromBase starts from the base model; otherwise from the pack's expert (but cls)
	// that answers the most held-out examples, when one answers more than the base
	// (learn.ReinforceOptions.Starts).
	FromBase bool `json:"fromBase,omitempty"`
}

// DefaultTrain is what a Train request's zero fields stand for, and what the page
// offers: at least MinTrainExamples examples, a fifth held out, six epochs or as many
// more as MinTrainSeen asks (TrainEpochs).
var DefaultTrain = Train{ValShare: 0.2, Epochs: 6, Batch: 20, LR: 1e-2}

// MinTrainExamples is the fewest examples the page trains an expert on: ten, as
// few-shot adaptation takes, two of them held out.
const MinTrainExamples = 10

// MinTrainSeen is how many examples default training goes through at least, counting
// each pass: six epochs of 8 examples left the solutions of the demo's held-out
// families barely likelier, 40 lifted all three (demo/MODEL_CARD.md).
const MinTrainSeen = 320

// TrainEpochs returns the epochs over n training examples that a request asking for
// epochs makes: epochs itself, or when 0 DefaultTrain's six, more for fewer than 54
// examples, so that training sees MinTrainSeen of them.
func TrainEpochs(epochs float64, n int) float64 {
	if epochs != 0 {
		return epochs
	}
	return max(DefaultTrain.Epochs, math.Ceil(float64(MinTrainSeen)/float64(max(n, 1))))
}

// TrainProgress reports one training iteration.
type TrainProgress struct {
	Type  string  `json:"type"`
	Iter  int     `json:"iter"` // from 1
	Iters int     `json:"iters"`
	Epoch float64 `json:"epoch"` // epochs done
	Loss  float64 `json:"loss"`  // mean next-token loss of the batch's answers
	// Validation is the accuracy on the held-out examples when this iteration
	// validated, else −1; Best the best so far, Base the base model's.
	Validation float64 `json:"validation"`
	Best       float64 `json:"best"`
	Base       float64 `json:"base"`
	Train      int     `json:"train"` // examples trained on
	Val        int     `json:"val"`   // examples held out
	Ms         float64 `json:"ms"`    // since training started (after loading)
	// Expert is the best iterate so far as an expert file (ExpertFile's data), when this
	// iteration found it: the page keeps it, so a closed tab loses nothing.
	Expert []byte `json:"expert,omitempty"`
}

// Trained ends a training run: the best iterate as an expert file.
type Trained struct {
	Type    string  `json:"type"`
	Name    string  `json:"name"`
	Expert  []byte  `json:"expert"`
	Best    float64 `json:"best"` // its validation accuracy
	Base    float64 `json:"base"`
	Trained string  `json:"trained"` // how, as its card says
	Stopped bool    `json:"stopped"` // a Stop ended it early
	Ms      float64 `json:"ms"`
}

// Engines of Load and Loaded.
const (
	EngineAuto = ""    // WebGPU on a hardware adapter, else the CPU engine
	EngineCPU  = "cpu" // the CPU engine of package model, compiled to wasm
	EngineGPU  = "gpu" // the WebGPU engine of package shaders
)

// Kernels of the CPU engine in Load and Loaded: the names of its model.Kernels.
const (
	KernelsBest    = ""                // the u8 module, else relaxed SIMD, else SIMD128, else Go's
	KernelsGo      = "go"              // model.GoKernels: Go compiled to wasm, no SIMD
	KernelsSIMD    = "simd128"         // the SIMD128 kernel module (model/simd)
	KernelsRelaxed = "simd128-relaxed" // the relaxed-SIMD kernel module
	// KernelsRelaxedU8 is the relaxed-SIMD module whose int8 products take w+128 as
	// unsigned 8-bit, where the browser's relaxed dot product reads it so (x86 with
	// AVX-VNNI: model/simd's ProbeU8).
	KernelsRelaxedU8 = "simd128-relaxed-u8"
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
	// Kernels picks the CPU engine's kernels (the page's ?kernels=): KernelsBest (the
	// best the browser runs), KernelsGo, KernelsSIMD, KernelsRelaxed or KernelsRelaxedU8.
	Kernels string `json:"kernels,omitempty"`
	// Local is set when the folder is one the user chose or dropped: the message then
	// carries, besides its JSON fields, "files", an object of the folder's File (or
	// Blob) objects by path inside it ("pack.json", "experts/math.safetensors"), which
	// the worker reads instead of fetching URL (then only the folder's name).
	Local bool `json:"local,omitempty"`
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

// Progress reports the download of one file of a checkpoint or pack.
type Progress struct {
	Type   string `json:"type"`
	File   string `json:"file"`   // name inside the folder, e.g. "model.safetensors"
	Loaded int64  `json:"loaded"` // bytes received so far
	Total  int64  `json:"total"`  // bytes in all, -1 when the server does not say
	// Shard and Shards say which of a pack's weight shards File is (from 1), 0 for
	// other files.
	Shard  int `json:"shard,omitempty"`
	Shards int `json:"shards,omitempty"`
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
	// Kernels names the CPU engine's kernels (Kernels* constants); empty on the GPU engine.
	Kernels string `json:"kernels,omitempty"`
	// Workers is how many workers run the CPU engine's matmuls: 2 where the page is
	// cross-origin isolated and has two cores or more (simd.Workers); 0 on the GPU engine.
	Workers int `json:"workers,omitempty"`
	// MergedF32: the GPU engine holds an int8 pack's adapted matrices W' in float32, as
	// it does for a small model on a CPU adapter (shaders.PreferMergedF32).
	MergedF32 bool `json:"mergedF32,omitempty"`
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
	Base bool   `json:"base,omitempty"` // a compared ask's answer with the base weights
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
	// SecondMs is an ask's second pass, prefill and decoding; absent for a generation.
	SecondMs float64 `json:"secondMs,omitempty"`
	// SwitchMs is how long putting the answer's z on the weights took, before its
	// prefill: part of SecondMs, not of PrefillTokensPerSecond's time; absent when the
	// weights had it already. On WebGPU it is the recomposition's submission; the
	// device's work on it delays the prefill.
	SwitchMs float64 `json:"switchMs,omitempty"`
	// Base ends a compared ask's answer with the base weights; the answer with the
	// chosen z follows.
	Base bool `json:"base,omitempty"`
}

// Tokens says how many tokens d generated and, from two on, at what decode rate: "1
// token", "12 tokens, 54.3 tokens/s". One token has no rate (it is all prefill).
func (d *Done) Tokens() string {
	if len(d.IDs) == 1 {
		return "1 token"
	}
	if len(d.IDs) < 2 || d.TokensPerSecond <= 0 {
		return fmt.Sprintf("%d tokens", len(d.IDs))
	}
	return fmt.Sprintf("%d tokens, %.1f tokens/s", len(d.IDs), d.TokensPerSecond)
}

// Error reports a failed request.
type Error struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	// Stopped: the request ended because the page asked it to (Stop, Esc), which is no
	// failure; Message says what became of it.
	Stopped bool `json:"stopped,omitempty"`
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
