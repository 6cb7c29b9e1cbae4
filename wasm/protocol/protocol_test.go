package protocol

import (
	"encoding/json"
	"testing"
)

func TestTypeOf(t *testing.T) {
	for _, tc := range []struct {
		data, typ string
		ok        bool
	}{
		{`{"type":"load","url":"models/default/"}`, TypeLoad, true},
		{`{"url":"x"}`, "", false},
		{`{"type":""}`, "", false},
		{`[1,2]`, "", false},
		{`not json`, "", false},
	} {
		typ, err := TypeOf([]byte(tc.data))
		if typ != tc.typ || (err == nil) != tc.ok {
			t.Errorf("TypeOf(%s) = %q, %v; want %q, ok %v", tc.data, typ, err, tc.typ, tc.ok)
		}
	}
}

// TestEncoding pins the field names the JavaScript side (worker.js, tests) relies on,
// and that zero values (token id 0) are sent.
func TestEncoding(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{Token{Type: TypeToken, ID: 0, Text: ""}, `{"type":"token","id":0,"text":""}`},
		{Generate{Type: TypeGenerate, Prompt: "hi", Chat: true, MaxTokens: 16}, `{"type":"generate","prompt":"hi","chat":true,"maxTokens":16,"temperature":0,"seed":0}`},
		{Done{Type: TypeDone, IDs: []int{1, 2}, Stopped: true, TokensPerSecond: 2.5}, `{"type":"done","ids":[1,2],"text":"","promptTokens":0,"stopped":true,"prefillTokensPerSecond":0,"tokensPerSecond":2.5}`},
		{Progress{Type: TypeProgress, File: "config.json", Loaded: 1, Total: -1}, `{"type":"progress","file":"config.json","loaded":1,"total":-1}`},
		{Error{Type: TypeError, Message: "x: HTTP 404 Not Found"}, `{"type":"error","message":"x: HTTP 404 Not Found"}`},
		{Load{Type: TypeLoad, URL: "models/default/"}, `{"type":"load","url":"models/default/"}`},
		{Load{Type: TypeLoad, URL: "p/", Engine: EngineGPU}, `{"type":"load","url":"p/","engine":"gpu"}`},
		{Adapter{Vendor: "google", Architecture: "swiftshader", Fallback: true, MaxStorageBinding: 1 << 30},
			`{"vendor":"google","architecture":"swiftshader","device":"","description":"","fallback":true,"maxStorageBinding":1073741824}`},
		{Bench{Type: TypeBench, Seconds: 2}, `{"type":"bench","seconds":2}`},
		{KernelSpeed{Name: "copy/64MiB", Runs: 3, Seconds: 0.5, GBps: 1.5}, `{"name":"copy/64MiB","runs":3,"seconds":0.5,"gbps":1.5}`},
		{Ask{Type: TypeAsk, Question: "2+2?", Strategy: StrategyPrompt, MaxTokens: 8},
			`{"type":"ask","question":"2+2?","strategy":"prompt","maxTokens":8,"temperature":0,"seed":0}`},
		{Ask{Type: TypeAsk, Question: "and 3?", History: []Message{{"user", "2+2?"}, {"assistant", "4"}}, Strategy: StrategyExpert + "task", MaxTokens: 8, Temperature: 0.5, Seed: 3},
			`{"type":"ask","question":"and 3?","history":[{"role":"user","content":"2+2?"},{"role":"assistant","content":"4"}],"strategy":"expert:task","maxTokens":8,"temperature":0.5,"seed":3}`},
		{Choice{Type: TypeChoice, Strategy: "prompt", Expert: "math", Labels: []LabelScore{{"math", "math", -0.25}, {"other", "", -3}}, FirstMs: 12.5},
			`{"type":"choice","strategy":"prompt","expert":"math","labels":[{"label":"math","expert":"math","logp":-0.25},{"label":"other","expert":"","logp":-3}],"firstMs":12.5}`},
		{Choice{Type: TypeChoice, Strategy: "mixture", Expert: "task", Experts: []string{"a", "b"}, Alpha: [][]float64{{0.5}, {1}}},
			`{"type":"choice","strategy":"mixture","expert":"task","experts":["a","b"],"alpha":[[0.5],[1]],"firstMs":0}`},
		{Done{Type: TypeDone, IDs: []int{}, SecondMs: 40}, `{"type":"done","ids":[],"text":"","promptTokens":0,"stopped":false,"prefillTokensPerSecond":0,"tokensPerSecond":0,"secondMs":40}`},
		{Adapt{Type: TypeAdapt, Name: "task", Examples: []Example{{"1+1", "2"}}, Score: "likelihood", Iters: 3, Population: 8, Seed: 1},
			`{"type":"adapt","name":"task","examples":[{"input":"1+1","output":"2"}],"score":"likelihood","iters":3,"population":8,"seed":1}`},
		{AdaptProgress{Type: TypeAdaptProgress, Iter: 1, Iters: 3, Best: 0.5, Mean: 0.25, Alpha: []float64{0.5, 0.5}, Ms: 10},
			`{"type":"adaptProgress","iter":1,"iters":3,"best":0.5,"mean":0.25,"spread":0,"alpha":[0.5,0.5],"ms":10}`},
		{Adapted{Type: TypeAdapted, Name: "task", Experts: []string{"a"}, Alpha: [][]float64{{1}}, Score: "accuracy", Best: 1, History: []IterScore{{1, 0.5}}, Stopped: "iterations", Scored: 7, Ms: 5},
			`{"type":"adapted","name":"task","experts":["a"],"alpha":[[1]],"score":"accuracy","best":1,"history":[{"best":1,"mean":0.5}],"stopped":"iterations","scored":7,"ms":5}`},
		{ListExperts{Type: TypeListExperts}, `{"type":"experts"}`},
		{ExpertCard{Name: "math", Source: "pack", Domain: "math", Kinds: []string{"mlp.up_proj"}, Heat: [][]float64{{0.5}, {-1}}},
			`{"name":"math","source":"pack","domain":"math","score":null,"kinds":["mlp.up_proj"],"heat":[[0.5],[-1]]}`},
		{ExportExpert{Type: TypeExportExpert, Name: "task"}, `{"type":"exportExpert","name":"task"}`},
		{ExpertFile{Type: TypeExpertFile, Name: "task", Data: []byte("st")}, `{"type":"expertFile","name":"task","data":"c3Q="}`},
		{ImportExpert{Type: TypeImportExpert, File: "task.safetensors", Data: []byte{0}}, `{"type":"importExpert","file":"task.safetensors","data":"AA=="}`},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil || string(b) != tc.want {
			t.Errorf("json.Marshal(%#v) = %s, %v; want %s", tc.v, b, err, tc.want)
		}
	}
}

func TestDoneTokens(t *testing.T) {
	for _, tc := range []struct {
		d    Done
		want string
	}{
		{Done{IDs: []int{}}, "0 tokens"},
		{Done{IDs: []int{7}, TokensPerSecond: 0}, "1 token"},
		{Done{IDs: []int{7, 8}, TokensPerSecond: 54.32}, "2 tokens, 54.3 tokens/s"},
		{Done{IDs: []int{7, 8, 9}}, "3 tokens"}, // no decode time measured
	} {
		if got := tc.d.Tokens(); got != tc.want {
			t.Errorf("Done{IDs: %v, TokensPerSecond: %v}.Tokens() = %q, want %q", tc.d.IDs, tc.d.TokensPerSecond, got, tc.want)
		}
	}
}
