package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/t2web/t2web/svf"
)

// badInput is one case of the bad-input catalogue: something a person can get wrong, on
// the command line or in the page, and what t2web must say. Every case must give a
// message that names the problem, and lose nothing the person typed or saved. The
// README's "When the input is wrong" lists every case by its name (TestBadInputListed).
type badInput struct {
	name string
	// want are parts of the message: what is wrong and where.
	want []string
	// cli writes the case's input under w.dir and returns t2's arguments; the command
	// must exit non-zero, and no file under w.dir may change or go.
	cli func(t *testing.T, w *cliWorld) []string
	// page does it in the page, which holds a typed few-shot row, and returns the message
	// the page shows; the row must still be there, as typed.
	page func(p *page, w *pageWorld) string
}

// badInputs is the catalogue.
var badInputs = []badInput{
	// The command line: checkpoints.
	{name: "unknown command", want: []string{`unknown command "frobnicate"`},
		cli: func(t *testing.T, w *cliWorld) []string { return []string{"frobnicate"} }},
	{name: "missing flags", want: []string{"usage: t2 generate"},
		cli: func(t *testing.T, w *cliWorld) []string { return []string{"generate"} }},
	{name: "a folder that is not there", want: []string{"config.json"},
		cli: func(t *testing.T, w *cliWorld) []string {
			return []string{"generate", "--model", filepath.Join(w.dir, "nope"), "--prompt", "x"}
		}},
	{name: "a truncated checkpoint", want: []string{"model.safetensors"},
		cli: func(t *testing.T, w *cliWorld) []string {
			d := w.spoil(t, w.hf, "truncated", func(d string) { w.truncate(t, filepath.Join(d, "model.safetensors")) })
			return []string{"generate", "--model", d, "--prompt", "x"}
		}},
	{name: "an architecture t2web does not run", want: []string{`architecture "GPTNeoXForCausalLM"`, "LlamaForCausalLM"},
		cli: func(t *testing.T, w *cliWorld) []string {
			d := w.spoil(t, w.hf, "arch", func(d string) { w.edit(t, d, "config.json", "LlamaForCausalLM", "GPTNeoXForCausalLM") })
			return []string{"generate", "--model", d, "--prompt", "x"}
		}},
	{name: "a config field of the wrong type", want: []string{"config.json", "field hidden_size", "want a number"},
		cli: func(t *testing.T, w *cliWorld) []string {
			d := w.spoil(t, w.hf, "type", func(d string) { w.edit(t, d, "config.json", `"hidden_size": 64`, `"hidden_size": "64"`) })
			return []string{"generate", "--model", d, "--prompt", "x"}
		}},
	{name: "a config size past any model", want: []string{"config.json", "num_hidden_layers"},
		cli: func(t *testing.T, w *cliWorld) []string {
			d := w.spoil(t, w.hf, "layers", func(d string) {
				w.edit(t, d, "config.json", `"num_hidden_layers": 2`, `"num_hidden_layers": 100000000`)
			})
			return []string{"generate", "--model", d, "--prompt", "x"}
		}},
	{name: "NaN in a weight", want: []string{"tensor model.layers.0.mlp.up_proj.weight", "entry [0,10] is NaN"},
		cli: func(t *testing.T, w *cliWorld) []string {
			d := w.spoil(t, w.hf, "nan", func(d string) { setNaN(t, filepath.Join(d, "model.safetensors"), "model.layers.0.mlp.up_proj.weight") })
			return []string{"generate", "--model", d, "--prompt", "x"}
		}},
	{name: "a tokenizer t2web does not read", want: []string{"WordPiece"},
		cli: func(t *testing.T, w *cliWorld) []string {
			d := w.spoil(t, w.hf, "wordpiece", func(d string) { w.edit(t, d, "tokenizer.json", `"type": "BPE"`, `"type": "WordPiece"`) })
			return []string{"tokenize", "--model", d, "x"}
		}},
	{name: "a token id that is not a number", want: []string{`item 2 "x" is not a token id`},
		cli: func(t *testing.T, w *cliWorld) []string {
			return []string{"logits", "--model", w.hf, "--ids", "1,x", "--out", filepath.Join(w.dir, "l")}
		}},
	{name: "a token id outside the vocabulary", want: []string{"token 9999 outside the vocabulary"},
		cli: func(t *testing.T, w *cliWorld) []string {
			return []string{"logits", "--model", w.hf, "--ids", "1,9999", "--out", filepath.Join(w.dir, "l")}
		}},
	// The command line: packs and experts.
	{name: "a truncated shard", want: []string{"weights-00001.safetensors", "pack.json says"},
		cli: func(t *testing.T, w *cliWorld) []string {
			d := w.spoil(t, w.pack, "short-shard", func(d string) { w.truncate(t, filepath.Join(d, "weights-00001.safetensors")) })
			return []string{"generate", "--pack", d, "--prompt", "x"}
		}},
	{name: "a shard that was changed", want: []string{"weights-00001.safetensors", "sha256", "corrupted or was changed"},
		cli: func(t *testing.T, w *cliWorld) []string {
			d := w.spoil(t, w.pack, "changed-shard", func(d string) { flipByte(t, filepath.Join(d, "weights-00001.safetensors")) })
			return []string{"generate", "--pack", d, "--prompt", "x"}
		}},
	{name: "a pack address that serves a web page", want: []string{"pack.json is a web page (HTML)"},
		cli: func(t *testing.T, w *cliWorld) []string {
			d := w.spoil(t, w.pack, "html", func(d string) {
				os.WriteFile(filepath.Join(d, "pack.json"), []byte("<!DOCTYPE html>\n<html><body>404: Not Found</body></html>\n"), 0o644)
			})
			return []string{"generate", "--pack", d, "--prompt", "x"}
		}},
	{name: "a pack from a newer t2web", want: []string{"pack.json", "newer than this t2web reads", "update t2web"},
		cli: func(t *testing.T, w *cliWorld) []string {
			d := w.spoil(t, w.pack, "newer", func(d string) { w.edit(t, d, "pack.json", `"version": 1`, `"version": 99`) })
			return []string{"generate", "--pack", d, "--prompt", "x"}
		}},
	{name: "an expert file that was changed", want: []string{"experts/math.safetensors", "sha256"},
		cli: func(t *testing.T, w *cliWorld) []string {
			d := w.spoil(t, w.pack, "changed-expert", func(d string) { flipByte(t, filepath.Join(d, "experts", "math.safetensors")) })
			return []string{"generate", "--pack", d, "--expert", "math", "--prompt", "x"}
		}},
	{name: "a reference expert for another model", want: []string{"learnable_params_module_list.0", "want a vector p of the matrix's rank"},
		cli: func(t *testing.T, w *cliWorld) []string {
			return []string{"import", "--pack", w.pack, "--reference-expert", filepath.Join("testdata", "reference", "policy_params.pt"), "--name", "ref"}
		}},
	{name: "a .pt file that is not from torch.save", want: []string{"notes.pt", "not a torch.save archive"},
		cli: func(t *testing.T, w *cliWorld) []string {
			return []string{"import", "--pack", w.pack, "--reference-expert", w.write(t, "notes.pt", []byte("PK? no: a text file\n")), "--name", "ref"}
		}},
	{name: "an export format t2web does not write", want: []string{`dtype "f8"`, "bf16, f16 or f32"},
		cli: func(t *testing.T, w *cliWorld) []string {
			return []string{"export", "--pack", w.pack, "--hf", filepath.Join(w.dir, "out"), "--dtype", "f8"}
		}},
	// The command line: examples.
	{name: "a few-shot file that is not UTF-8", want: []string{"latin1.jsonl:2", "not UTF-8", "save the file as UTF-8"},
		cli: func(t *testing.T, w *cliWorld) []string {
			return w.adapt(t, "latin1.jsonl", []byte("{\"input\": \"What is 2 plus 2?\", \"output\": \"4\"}\n{\"input\": \"Caf\xe9 or tea?\", \"output\": \"tea\"}\n"))
		}},
	{name: "a few-shot file saved as UTF-16", want: []string{"sheet.csv", "UTF-16", "save it as UTF-8"},
		cli: func(t *testing.T, w *cliWorld) []string {
			return w.adapt(t, "sheet.csv", utf16LE("input,output\r\nWhat is 2 plus 2?,4\r\n"))
		}},
	{name: "a CSV with only its header", want: []string{"one.csv", "only the header line", "no examples"},
		cli: func(t *testing.T, w *cliWorld) []string { return w.adapt(t, "one.csv", []byte("input,output\n")) }},
	{name: "a CSV without an answer column", want: []string{"cols.csv", "one for the answer (output/answer/completion)"},
		cli: func(t *testing.T, w *cliWorld) []string {
			return w.adapt(t, "cols.csv", []byte("question,reply\nWhat is 2 plus 2?,4\n"))
		}},
	{name: "a JSONL line that is not JSON", want: []string{"bad.jsonl:2", "not a JSON object"},
		cli: func(t *testing.T, w *cliWorld) []string {
			return w.adapt(t, "bad.jsonl", []byte("{\"input\": \"What is 2 plus 2?\", \"output\": \"4\"}\ninput: what is 3 plus 3\n"))
		}},
	{name: "an example without an answer", want: []string{"noanswer.jsonl:1", "no field output, answer, completion"},
		cli: func(t *testing.T, w *cliWorld) []string {
			return w.adapt(t, "noanswer.jsonl", []byte("{\"input\": \"What is 2 plus 2?\"}\n"))
		}},
	{name: "a few-shot file over 4 MiB", want: []string{"big.jsonl", "holds at most 4194304"},
		cli: func(t *testing.T, w *cliWorld) []string { return w.adapt(t, "big.jsonl", bigExamples(5<<20)) }},
	{name: "too few examples to train an expert", want: []string{"few.jsonl", "3 examples", "at least 10"},
		cli: func(t *testing.T, w *cliWorld) []string {
			f := w.write(t, "few.jsonl", sums(3, 0))
			return []string{"train-expert", "--pack", w.pack, "--examples", f, "--name", "few", "--objective", "ce", "--epochs", "1"}
		}},
	{name: "an example longer than the context", want: []string{`the example "What is two plus two?`, "training holds 512", "shorten it"},
		cli: func(t *testing.T, w *cliWorld) []string {
			long := fmt.Sprintf("{\"input\": %q, \"output\": \"4\"}\n", strings.Repeat("What is two plus two? ", 60))
			f := w.write(t, "long.jsonl", append(sums(24, 0), long...))
			return []string{"train-expert", "--pack", w.pack, "--examples", f, "--name", "long", "--objective", "ce", "--epochs", "1"}
		}},
	{name: "a sequence length past the context", want: []string{"--seq-len 4096", "(max_position_embeddings) is 512"},
		cli: func(t *testing.T, w *cliWorld) []string {
			return []string{"train-expert", "--pack", w.pack, "--task", "math", "--name", "x", "--seq-len", "4096", "--iters", "1"}
		}},
	{name: "a task the suite does not have", want: []string{`unknown task "algebra"`, "known: math"},
		cli: func(t *testing.T, w *cliWorld) []string {
			return []string{"eval", "--pack", w.pack, "--task", "algebra", "--n", "1"}
		}},

	// The page.
	{name: "the page: a few-shot file that is not UTF-8", want: []string{"latin1.jsonl:2", "not UTF-8"},
		page: func(p *page, w *pageWorld) string {
			p.drop("latin1.jsonl", []byte("{\"input\": \"What is 2 plus 2?\", \"output\": \"4\"}\n{\"input\": \"Caf\xe9 or tea?\", \"output\": \"tea\"}\n"))
			return p.poll(`document.querySelector('#fewshot-message')?.textContent ?? ""`, 10*time.Second)
		}},
	{name: "the page: a few-shot file saved as UTF-16", want: []string{"sheet.csv", "UTF-16"},
		page: func(p *page, w *pageWorld) string {
			p.drop("sheet.csv", utf16LE("input,output\r\nWhat is 2 plus 2?,4\r\n"))
			return p.poll(`document.querySelector('#fewshot-message')?.textContent ?? ""`, 10*time.Second)
		}},
	{name: "the page: a CSV with only its header", want: []string{"one.csv", "only the header line"},
		page: func(p *page, w *pageWorld) string {
			p.drop("one.csv", []byte("input,output\n"))
			return p.poll(`document.querySelector('#fewshot-message')?.textContent ?? ""`, 10*time.Second)
		}},
	{name: "the page: a 20 MB few-shot file", want: []string{"big.jsonl", "at most"},
		page: func(p *page, w *pageWorld) string {
			// Made in the page: 20 MB through the DevTools protocol would be slow.
			run1(p, chromedp.Evaluate[bool](`(() => {
				const line = new TextEncoder().encode('{"input": "a question", "output": "an answer"}\n');
				const big = new Uint8Array(20 << 20);
				for (let i = 0; i + line.length <= big.length; i += line.length) big.set(line, i);
				const dt = new DataTransfer();
				dt.items.add(new File([big], 'big.jsonl'));
				const main = document.querySelector('main.app');
				return main.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
			})()`))
			return p.poll(`document.querySelector('#fewshot-message')?.textContent ?? ""`, 10*time.Second)
		}},
	{name: "the page: a prompt longer than the context", want: []string{"context"},
		page: func(p *page, w *pageWorld) string {
			p.show("chat")
			long := strings.Repeat("Tell me everything about the number forty-two. ", 40) // ≈ 1900 bytes: the context holds 512 tokens
			p.setField("#prompt", long)
			run1(p, chromedp.Click("#generate"))
			if st := p.waitState(time.Minute, "error", "done"); st != "error" {
				p.fatalf("page state %q, want error", st)
			}
			run1(p, chromedp.WaitVisible("#error"))
			if v := p.value("#prompt"); v != long {
				p.fatalf("the prompt box holds %d bytes, want the %d typed", len(v), len(long))
			}
			if n := p.count("#messages li"); n != 0 {
				p.fatalf("%d messages in the chat, want none", n)
			}
			return p.text("#error")
		}},
	{name: "the page: an expert file for another pack", want: []string{"other.safetensors", "z has 3 values, the matrix has rank"},
		page: func(p *page, w *pageWorld) string {
			x := w.uniform(p.t, "other")
			for name := range x.Z {
				x.Z[name] = x.Z[name][:3]
				break
			}
			p.drop("other.safetensors", encodeExpert(p.t, x))
			return p.poll(`document.querySelector('#error')?.textContent ?? ""`, 10*time.Second)
		}},
	{name: "the page: an expert file with NaN", want: []string{"nan.safetensors", "want a finite number"},
		page: func(p *page, w *pageWorld) string {
			x := w.uniform(p.t, "nan")
			for name := range x.Z {
				x.Z[name][1] = float32(math.NaN())
				break
			}
			p.drop("nan.safetensors", encodeExpert(p.t, x))
			return p.poll(`document.querySelector('#error')?.textContent ?? ""`, 10*time.Second)
		}},
	{name: "the page: a file named .safetensors that is not one", want: []string{"notes.safetensors", "is it a safetensors file?"},
		page: func(p *page, w *pageWorld) string {
			p.drop("notes.safetensors", []byte("these are my notes, not an expert\n"))
			return p.poll(`document.querySelector('#error')?.textContent ?? ""`, 10*time.Second)
		}},
	{name: "the page: a pack address that serves a web page", want: []string{"pack.json is a web page (HTML)"},
		page: func(p *page, w *pageWorld) string {
			run1(p, chromedp.Navigate(w.base+"?pack=not-a-pack/&engine=cpu"))
			if st := p.waitState(time.Minute, "error", "ready"); st != "error" {
				p.fatalf("page state %q, want error", st)
			}
			return p.text("#error")
		}},
	{name: "the page: a pack address with nothing there", want: []string{"no-such-pack/ has no pack.json (a pack) and no config.json", "404"},
		page: func(p *page, w *pageWorld) string {
			run1(p, chromedp.Navigate(w.base+"?pack=no-such-pack/&engine=cpu"))
			if st := p.waitState(time.Minute, "error", "ready"); st != "error" {
				p.fatalf("page state %q, want error", st)
			}
			return p.text("#error")
		}},
}

// TestBadInput runs the catalogue: the command line's cases in process, the page's in
// headless Chromium on a pack with experts.
func TestBadInput(t *testing.T) {
	t.Run("cli", func(t *testing.T) {
		w := newCLIWorld(t)
		for _, c := range badInputs {
			if c.cli == nil {
				continue
			}
			t.Run(c.name, func(t *testing.T) {
				args := c.cli(t, w)
				before := w.snapshot(t)
				code, _, errOut := t2(args...)
				if code == 0 {
					t.Fatalf("t2 %s: exit 0, want an error", strings.Join(args, " "))
				}
				for _, s := range c.want {
					if !strings.Contains(errOut, s) {
						t.Errorf("t2 %s: stderr %q does not say %q", strings.Join(args, " "), errOut, s)
					}
				}
				w.kept(t, before)
				t.Logf("%s", strings.TrimSpace(errOut))
			})
		}
	})
	t.Run("page", func(t *testing.T) {
		browser := findChromium(t)
		site, srv := serveSite(t)
		packDir := filepath.Join(site, "models", "t2")
		writeExpertPack(t, packDir)
		os.MkdirAll(filepath.Join(site, "not-a-pack"), 0o755)
		os.WriteFile(filepath.Join(site, "not-a-pack", "pack.json"), []byte("<!doctype html>\n<html><body>Sign in to continue</body></html>\n"), 0o644)
		bctx, browserOut := startBrowser(t, browser)
		defer func() {
			if t.Failed() {
				t.Logf("browser output:\n%s", browserOut.String())
			}
		}()
		w := &pageWorld{base: srv.URL + "/", packDir: packDir}
		for _, c := range badInputs {
			if c.page == nil {
				continue
			}
			t.Run(strings.TrimPrefix(c.name, "the page: "), func(t *testing.T) {
				p := openPage(t, bctx, w.base+"?pack=models/t2/&engine=cpu")
				p.waitReady()
				p.forget()
				p.show("fewshot")
				run1(p, chromedp.Click("#fewshot-add-row"))
				p.setField(`#fewshot-table textarea[aria-label="input of row 1"]`, "kept question")
				p.setField(`#fewshot-table textarea[aria-label="output of row 1"]`, "kept answer")
				p.waitStored("fewshot", "kept answer") // before the case can navigate away

				msg := c.page(p, w)
				for _, s := range c.want {
					if !strings.Contains(msg, s) {
						p.fatalf("the page says %q, which does not say %q", msg, s)
					}
				}
				// The typed row is still there, as typed (after a reload when the case
				// navigated away).
				p.show("fewshot")
				p.pollTrue(`document.querySelectorAll('#fewshot-table tbody tr').length === 1`, 20*time.Second)
				if v := p.value(`#fewshot-table textarea[aria-label="output of row 1"]`); v != "kept answer" {
					p.fatalf("after the bad input row 1's output is %q, want the typed \"kept answer\"", v)
				}
				t.Logf("%s", msg)
			})
		}
	})
}

// TestBadInputListed holds the README's list of bad inputs to the catalogue.
func TestBadInputListed(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "## When the input is wrong")
	if !ok {
		t.Fatal(`README.md has no section "## When the input is wrong"`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	for _, c := range badInputs {
		if name := strings.TrimPrefix(c.name, "the page: "); !strings.Contains(section, "| "+name+" |") {
			t.Errorf("README.md's \"When the input is wrong\" has no row for %q", name)
		}
	}
	if n := len(badInputs); n < 25 {
		t.Errorf("the catalogue has %d cases, want at least 25", n)
	}
}

// cliWorld is what the command-line cases spoil copies of: a random checkpoint and its
// pack with an expert, in dir.
type cliWorld struct {
	dir, hf, pack string
}

func newCLIWorld(t *testing.T) *cliWorld {
	t.Helper()
	dir := t.TempDir()
	w := &cliWorld{dir: dir, hf: filepath.Join(dir, "hf"), pack: filepath.Join(dir, "pack")}
	cfg := w.write(t, "config.json", defaultModelConfig)
	for _, args := range [][]string{
		{"random-model", "--config", cfg, "--out", w.hf},
		{"convert", "--model", w.hf, "--out", w.pack, "--targets", "mlp,attn"},
		{"expert", "new", "--pack", w.pack, "--name", "math", "--value", "0.5", "--domain", "math"},
	} {
		if code, _, errOut := t2(args...); code != 0 {
			t.Fatalf("t2 %s: %s", strings.Join(args, " "), errOut)
		}
	}
	return w
}

// write writes data to name in the world's folder and returns its path.
func (w *cliWorld) write(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(w.dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// adapt writes a few-shot file and returns t2 adapt's arguments for it.
func (w *cliWorld) adapt(t *testing.T, name string, data []byte) []string {
	return []string{"adapt", "--pack", w.pack, "--examples", w.write(t, name, data)}
}

// spoil copies the folder src to a new folder called name and lets f spoil the copy.
func (w *cliWorld) spoil(t *testing.T, src, name string, f func(dir string)) string {
	t.Helper()
	d := filepath.Join(w.dir, name)
	if err := os.CopyFS(d, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	f(d)
	return d
}

// edit replaces old by new, once, in the file of folder d.
func (w *cliWorld) edit(t *testing.T, d, file, old, new string) {
	t.Helper()
	p := filepath.Join(d, file)
	data, err := os.ReadFile(p)
	if err != nil || !bytes.Contains(data, []byte(old)) {
		t.Fatalf("%s has no %q (%v)", p, old, err)
	}
	os.WriteFile(p, bytes.Replace(data, []byte(old), []byte(new), 1), 0o644)
}

// truncate keeps the first half of a file.
func (w *cliWorld) truncate(t *testing.T, p string) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p, data[:len(data)/2], 0o644)
}

// snapshot is the sha256 of every file under the world's folder.
func (w *cliWorld) snapshot(t *testing.T) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(w.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		out[p] = sha256.Sum256(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// kept fails the test when a file of before changed or went: a command that refuses its
// input must leave what the person has alone.
func (w *cliWorld) kept(t *testing.T, before map[string][32]byte) {
	t.Helper()
	after := w.snapshot(t)
	for p, sum := range before {
		if got, ok := after[p]; !ok {
			t.Errorf("%s is gone", p)
		} else if got != sum {
			t.Errorf("%s changed", p)
		}
	}
}

// pageWorld is where the page's cases run: the site's address and the pack it serves.
type pageWorld struct {
	base, packDir string
}

// uniform is an expert of the served pack with every z 1.
func (w *pageWorld) uniform(t testing.TB, name string) *svf.Expert {
	t.Helper()
	p, err := svf.OpenDir(w.packDir)
	if err != nil {
		t.Fatal(err)
	}
	return p.Uniform(name, 1)
}

func encodeExpert(t testing.TB, x *svf.Expert) []byte {
	t.Helper()
	data, err := x.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// setNaN writes a NaN into the 11th entry of the f32 tensor name of a safetensors file.
func setNaN(t *testing.T, file, name string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	n := int(uint64(data[0]) | uint64(data[1])<<8 | uint64(data[2])<<16 | uint64(data[3])<<24)
	var header map[string]json.RawMessage
	if err := json.Unmarshal(data[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	var info struct {
		DType   string `json:"dtype"`
		Offsets [2]int `json:"data_offsets"`
	}
	if err := json.Unmarshal(header[name], &info); err != nil || info.DType != "F32" {
		t.Fatalf("%s: tensor %s: %s, %v; want F32", file, name, info.DType, err)
	}
	at := 8 + n + info.Offsets[0] + 4*10
	nan := math.Float32bits(float32(math.NaN()))
	data[at], data[at+1], data[at+2], data[at+3] = byte(nan), byte(nan>>8), byte(nan>>16), byte(nan>>24)
	os.WriteFile(file, data, 0o644)
}

// flipByte changes one byte in the middle of a file.
func flipByte(t *testing.T, p string) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x55
	os.WriteFile(p, data, 0o644)
}

// utf16LE is s as a spreadsheet's "Unicode text": UTF-16, little-endian, with a BOM.
func utf16LE(s string) []byte {
	out := []byte{0xff, 0xfe}
	for _, r := range s {
		out = append(out, byte(r), byte(r>>8))
	}
	return out
}

// sums is n few-shot lines "What is i plus j?" from offset on.
func sums(n, offset int) []byte {
	var b bytes.Buffer
	for i := offset; i < offset+n; i++ {
		fmt.Fprintf(&b, "{\"input\": \"What is %d plus %d?\", \"output\": \"%d\"}\n", i, i+1, 2*i+1)
	}
	return b.Bytes()
}

// bigExamples is at least size bytes of valid few-shot lines.
func bigExamples(size int) []byte {
	line := []byte("{\"input\": \"a question\", \"output\": \"an answer\"}\n")
	return bytes.Repeat(line, size/len(line)+1)
}
