// Command t2 is t2web's tool: it tokenizes, renders chat templates, runs a checkpoint on
// the CPU engine, writes random-weight checkpoints, and builds and serves the site.
//
// It also takes in the files of the reference code (github.com/SakanaAI/self-adaptive-llms):
// 't2 convert --reference-svd decomposed_params.pt' builds a pack from its cached
// torch.svd factors, checking each against its weight, and 't2 import --reference-expert
// policy_params.pt' adds an expert it trained (z = bf16(sigmoid(p))·max_mult).
//
// Usage: t2 <command> [flags] [args]; t2 <command> --help describes each command.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand of t2: it parses its own flags from args.
type command struct {
	run     func(args []string, stdout, stderr io.Writer) error
	summary string
}

// commands is the table of t2's subcommands.
func commands() map[string]command {
	return map[string]command{
		"tokenize":     {cmdTokenize, "print the token ids of a text"},
		"template":     {cmdTemplate, "render a conversation with the model's chat template"},
		"logits":       {cmdLogits, "write the logits of every position of a token sequence"},
		"generate":     {cmdGenerate, "generate text from a prompt"},
		"random-model": {cmdRandomModel, "write a random-weight checkpoint folder for a config"},
		"export":       {cmdExport, "write a pack's adapted, merged model as a GGUF file (llama.cpp, wllama) or a Hugging Face folder"},
		"convert":      {cmdConvert, "make a pack (SVD-decomposed, quantised) from a checkpoint folder"},
		"expert":       {cmdExpert, "add (new, mix) or show a pack's SVF experts"},
		"import":       {cmdImport, "add an expert trained by the reference code (SakanaAI/self-adaptive-llms) to a pack"},
		"ask":          {cmdAsk, "answer a question with two passes: an expert chosen by the first, the answer by the second"},
		"adapt":        {cmdAdapt, "fit a mixture of a pack's experts to a file of examples (few-shot CEM)"},
		"eval":         {cmdEval, "measure accuracy on a task of the suite or on a file of examples"},
		"train-expert": {cmdTrainExpert, "train an SVF expert of a pack on a task or on examples (REINFORCE or next-token)"},
		"train-base":   {cmdTrainBase, "train the demo's base model on the task suite, from scratch or further --from a trained one"},
		"site":         {cmdSite, "build the static site (wasm, page, default model)"},
		"serve":        {cmdServe, "serve the site over HTTP"},
		"tasks":        {cmdTasks, "list the task suite or export a task's examples as JSONL"},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one t2 command line and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "t2: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	err := cmd.run(args[1:], stdout, stderr)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintf(stderr, "t2 %s: %v\n", args[0], err)
	return 1
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: t2 <command> [flags] [args]")
	fmt.Fprintln(w, "\ncommands:")
	table := commands()
	names := make([]string, 0, len(table))
	for name := range table {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-13s %s\n", name, table[name].summary)
	}
	fmt.Fprintln(w, "\nRun 't2 <command> --help' for a command's flags.")
}

// errUsage reports a command line that flag parsing already explained on stderr.
var errUsage = errors.New("usage")

// flags makes a command's flag set, writing its usage to stderr.
func flags(name, args string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("t2 "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: t2 %s %s\n\n%s.\n\nflags:\n", name, args, commands()[name].summary)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args into fs, mapping a bad command line to errUsage.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}
