package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/shaders"
)

// cmdGenerate streams the model's continuation of a prompt to stdout.
func cmdGenerate(args []string, stdout, stderr io.Writer) error {
	fs := flags("generate", "(--model DIR | --pack DIR [--expert NAME | --mix a:0.3,b:0.7]) (--prompt TEXT | --ids 1,2,3) [--engine cpu|gpu] [flags]", stderr)
	src := addSourceFlags(fs)
	engine := addEngineFlag(fs)
	prompt := fs.String("prompt", "", "prompt `text`")
	useChat := fs.Bool("chat", false, "wrap the prompt as a user message in the model's chat template")
	idList := fs.String("ids", "", "start from these comma-separated token `ids` instead of a prompt")
	maxTokens := fs.Int("max-tokens", 128, "generate at most `n` tokens")
	greedy := fs.Bool("greedy", false, "always take the most likely token (temperature 0)")
	p := model.SamplerParams{Temperature: 0.8, TopP: 0.95, RepeatPenalty: 1}
	fs.Var(float32Flag{&p.Temperature}, "temperature", "sampling `temperature`; 0 is greedy")
	fs.IntVar(&p.TopK, "top-k", 40, "keep the `k` most likely tokens; 0 keeps all")
	fs.Var(float32Flag{&p.TopP}, "top-p", "keep the smallest set of tokens whose probability reaches `p`")
	fs.Var(float32Flag{&p.RepeatPenalty}, "repeat-penalty", "penalise tokens already seen by `factor`; 1 is off")
	fs.IntVar(&p.RepeatLastN, "repeat-last-n", 64, "the penalty sees the last `n` tokens; 0 sees all")
	fs.Uint64Var(&p.Seed, "seed", 0, "random `seed`")
	printIDs := fs.Bool("print-ids", false, "end with the generated ids as a JSON array on a line of its own")
	if err := parse(fs, args); err != nil {
		return err
	}
	if !src.given() || (*prompt == "") == (*idList == "") || fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	if *greedy {
		p.Temperature = 0
	}
	e, m, closeEngine, err := openEngine(*engine, src, engineOptions{}, stderr)
	if err != nil {
		return err
	}
	defer closeEngine()
	var ids []int
	if *idList != "" {
		if ids, err = parseIDs(*idList); err != nil {
			return err
		}
	} else if ids, err = m.Prompt(*prompt, *useChat); err != nil {
		return err
	}
	dec := m.Tokenizer.NewDecoder(true)
	// Ctrl-C, or output that cannot be written, ends the generation after the token
	// under way; what was generated stays printed.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	out, err := shaders.Generate(ctx, e, ids, model.NewSampler(p), *maxTokens, m.EOS, func(id int) {
		if _, err := io.WriteString(stdout, dec.Add(id)); err != nil {
			cancel(err)
		}
	})
	if errors.Is(err, context.Canceled) {
		err = context.Cause(ctx)
		if errors.Is(err, context.Canceled) { // Ctrl-C
			err = nil
		}
	}
	if err != nil {
		return err
	}
	io.WriteString(stdout, dec.Flush())
	if *printIDs {
		data, _ := json.Marshal(nonNil(out))
		fmt.Fprintf(stdout, "\n%s\n", data)
	}
	return nil
}

// float32Flag is a flag.Value for a float32.
type float32Flag struct{ p *float32 }

func (f float32Flag) String() string {
	if f.p == nil {
		return ""
	}
	return fmt.Sprint(*f.p)
}

func (f float32Flag) Set(s string) error {
	var v float64
	if _, err := fmt.Sscan(s, &v); err != nil {
		return fmt.Errorf("%q is not a number", s)
	}
	*f.p = float32(v)
	return nil
}
