package tokenizer

import (
	"encoding/json"
	"fmt"
)

// postProcessor adds special tokens around an encoded text; Encode runs it only when
// asked to add special tokens.
type postProcessor interface {
	process(ids []int) []int
}

// postProcessorJSON is a post_processor object of tokenizer.json; which fields are used
// depends on Type.
type postProcessorJSON struct {
	Type          string                      `json:"type"`
	Processors    []json.RawMessage           `json:"processors"`     // Sequence
	Single        []templatePieceJSON         `json:"single"`         // TemplateProcessing
	SpecialTokens map[string]specialTokenJSON `json:"special_tokens"` // TemplateProcessing
	Cls           []json.RawMessage           `json:"cls"`            // BertProcessing, RobertaProcessing: [token, id]
	Sep           []json.RawMessage           `json:"sep"`
}

type templatePieceJSON struct {
	SpecialToken *struct {
		ID string `json:"id"`
	} `json:"SpecialToken"`
	Sequence *struct {
		ID string `json:"id"`
	} `json:"Sequence"`
}

type specialTokenJSON struct {
	IDs []int `json:"ids"`
}

const postProcessorTypes = "TemplateProcessing, ByteLevel, BertProcessing, RobertaProcessing, Sequence"

func loadPostProcessor(raw []byte) (postProcessor, error) {
	return parsePostProcessor(raw, "post_processor")
}

func parsePostProcessor(raw []byte, path string) (postProcessor, error) {
	if isNull(raw) {
		return nil, nil
	}
	var j postProcessorJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	switch j.Type {
	case "ByteLevel": // trims offsets, which Encode does not return
		return nil, nil
	case "TemplateProcessing":
		var tp template
		for i, p := range j.Single {
			switch {
			case p.Sequence != nil:
				if p.Sequence.ID != "A" {
					return nil, fmt.Errorf("%s.single[%d]: sequence %q in the single template (want A)", path, i, p.Sequence.ID)
				}
				tp = append(tp, templateItem{sequence: true})
			case p.SpecialToken != nil:
				st, ok := j.SpecialTokens[p.SpecialToken.ID]
				if !ok {
					return nil, fmt.Errorf("%s.single[%d]: special token %q is not in special_tokens", path, i, p.SpecialToken.ID)
				}
				tp = append(tp, templateItem{ids: st.IDs})
			default:
				return nil, fmt.Errorf("%s.single[%d]: want Sequence or SpecialToken", path, i)
			}
		}
		return tp, nil
	case "BertProcessing", "RobertaProcessing":
		cls, err := tokenIDPair(j.Cls, path+".cls")
		if err != nil {
			return nil, err
		}
		sep, err := tokenIDPair(j.Sep, path+".sep")
		if err != nil {
			return nil, err
		}
		return template{{ids: []int{cls}}, {sequence: true}, {ids: []int{sep}}}, nil
	case "Sequence":
		var seq sequencePost
		for i, sub := range j.Processors {
			p, err := parsePostProcessor(sub, fmt.Sprintf("%s.processors[%d]", path, i))
			if err != nil {
				return nil, err
			}
			if p != nil {
				seq = append(seq, p)
			}
		}
		if len(seq) == 0 {
			return nil, nil
		}
		return seq, nil
	}
	return nil, fmt.Errorf("%s.type %q is not supported (want one of %s)", path, j.Type, postProcessorTypes)
}

// tokenIDPair reads the id of a ["<s>", 0] pair.
func tokenIDPair(raw []json.RawMessage, path string) (int, error) {
	var id int
	if len(raw) != 2 || json.Unmarshal(raw[1], &id) != nil {
		return 0, fmt.Errorf("%s: want a [token, id] pair", path)
	}
	return id, nil
}

// template is TemplateProcessing's single-sequence template: special tokens' ids
// around the text's ids ($A).
type template []templateItem

type templateItem struct {
	ids      []int // a special token's ids
	sequence bool  // the text's ids
}

func (tp template) process(ids []int) []int {
	out := make([]int, 0, len(ids)+4)
	for _, item := range tp {
		if item.sequence {
			out = append(out, ids...)
		} else {
			out = append(out, item.ids...)
		}
	}
	return out
}

// sequencePost applies post-processors in order.
type sequencePost []postProcessor

func (seq sequencePost) process(ids []int) []int {
	for _, p := range seq {
		ids = p.process(ids)
	}
	return ids
}
