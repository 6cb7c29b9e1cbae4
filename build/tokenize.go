package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/t2web/t2web/model/tokenizer"
)

// cmdTokenize prints token ids as JSON arrays: of one text, or of every {"text": …} line
// of a JSONL file.
func cmdTokenize(args []string, stdout, stderr io.Writer) error {
	fs := flags("tokenize", "--model DIR [--special] (TEXT | --jsonl FILE)", stderr)
	dir := fs.String("model", "", "checkpoint `folder` holding tokenizer.json")
	special := fs.Bool("special", false, "add the tokenizer's special tokens (e.g. BOS) as its post-processor does")
	jsonl := fs.String("jsonl", "", "read {\"text\": …} lines from `file` and print one JSON array of ids per line")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" || (*jsonl == "") == (fs.NArg() != 1) {
		fs.Usage()
		return errUsage
	}
	tok, err := loadTokenizer(*dir)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	if *jsonl == "" {
		return enc.Encode(nonNil(tok.Encode(fs.Arg(0), *special)))
	}
	f, err := os.Open(*jsonl)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	for line := 1; sc.Scan(); line++ {
		var row struct {
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			return fmt.Errorf("%s:%d: %w", *jsonl, line, err)
		}
		if row.Text == nil {
			return fmt.Errorf("%s:%d: field text is missing", *jsonl, line)
		}
		if err := enc.Encode(nonNil(tok.Encode(*row.Text, *special))); err != nil {
			return err
		}
	}
	return sc.Err()
}

// nonNil makes an empty encoding print as [] rather than null.
func nonNil(ids []int) []int {
	if ids == nil {
		return []int{}
	}
	return ids
}

func loadTokenizer(dir string) (*tokenizer.Tokenizer, error) {
	data, err := os.ReadFile(filepath.Join(dir, "tokenizer.json"))
	if err != nil {
		return nil, err
	}
	tok, err := tokenizer.Load(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "tokenizer.json"), err)
	}
	return tok, nil
}
