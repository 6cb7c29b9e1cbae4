package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/t2web/t2web/model/chat"
)

// cmdTemplate renders a conversation with the checkpoint's chat template.
func cmdTemplate(args []string, stdout, stderr io.Writer) error {
	fs := flags("template", "--model DIR --messages FILE.json [--add-generation-prompt]", stderr)
	dir := fs.String("model", "", "checkpoint `folder` holding tokenizer_config.json")
	msgs := fs.String("messages", "", "JSON `file`: an array of {\"role\", \"content\"} messages")
	genPrompt := fs.Bool("add-generation-prompt", false, "end with the header of the assistant's turn")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" || *msgs == "" || fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	tpl, err := loadTemplate(*dir)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(*msgs)
	if err != nil {
		return err
	}
	messages, err := chat.ReadMessages(data)
	if err != nil {
		return fmt.Errorf("%s: %w", *msgs, err)
	}
	out, err := tpl.Render(messages, *genPrompt)
	if err != nil {
		return err
	}
	_, err = io.WriteString(stdout, out)
	return err
}

func loadTemplate(dir string) (*chat.Template, error) {
	path := filepath.Join(dir, "tokenizer_config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tpl, err := chat.Load(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return tpl, nil
}
