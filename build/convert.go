package main

import (
	"context"
	"fmt"
	"github.com/t2web/t2web/model/pack"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/t2web/t2web/svf/convert"
)

// cmdConvert makes a pack from a Hugging Face checkpoint folder.
func cmdConvert(args []string, stdout, stderr io.Writer) error {
	fs := flags("convert", "--model HF_DIR --out PACK_DIR [--targets mlp|mlp,attn] [--quant int8|f32] [--exact-rank K] [--f32 NAMES] [--shard-mib 64] [--workers 2] [--reference-svd decomposed_params.pt [--svd-tolerance 1e-3]]", stderr)
	dir := fs.String("model", "", "Hugging Face checkpoint `folder`")
	out := fs.String("out", "", "pack `folder` to write; an interrupted conversion run again with the same flags resumes from its .convert-scratch folder")
	targets := fs.String("targets", "mlp", "matrices to adapt: `mlp` (gate, up, down) or mlp,attn (+ q, k, v, o)")
	quant := fs.String("quant", pack.QuantInt8, "weights as `int8` (U, V and other matrices in blocks of 32 with f32 scales) or f32")
	exact := fs.Int("exact-rank", 0, "int8: keep the first `K` columns of U and V (the largest singular directions) in f32")
	keep := fs.String("f32", "", "int8: unadapted matrices to keep in f32, comma-separated checkpoint `names` (e.g. model.embed_tokens.weight,lm_head.weight)")
	shardMiB := fs.Int("shard-mib", 64, "largest shard in `MiB` (GitHub Pages refuses files of 100 MB)")
	refSVD := fs.String("reference-svd", "", "take the adapted matrices' factors from the reference code's torch.svd cache (SakanaAI/self-adaptive-llms' decomposed_params.pt: NAME.weight.U, .S, .V) instead of decomposing; each is checked against its weight")
	svdTol := fs.Float64("svd-tolerance", 1e-3, "with --reference-svd: refuse a matrix whose ‖W − U·diag(S)·Vᵀ‖/‖W‖ is above this (float32 torch.svd factors of the same weights give about 1e-6)")
	workers := fs.Int("workers", convert.DefaultWorkers, "matrices decomposed at `once` (each on every core; memory grows with it)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" || *out == "" || fs.NArg() != 0 || *shardMiB <= 0 {
		fs.Usage()
		return errUsage
	}
	opt := convert.Options{
		Targets:    strings.Split(*targets, ","),
		Quant:      *quant,
		ExactRank:  *exact,
		F32:        splitList(*keep),
		ShardBytes: int64(*shardMiB) << 20,
		Workers:    *workers,
	}
	var ref *referenceSVD
	if *refSVD != "" {
		var err error
		if ref, err = openReferenceSVD(*refSVD, *svdTol); err != nil {
			return err
		}
		defer ref.file.Close()
		opt.Factors = ref.factors
	}
	// An interrupt stops the conversion once the matrices under way are decomposed; they
	// and every one before them stay in OUT's scratch folder, and running the same
	// command again resumes from there. A second interrupt ends the process at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()
	bar := newProgressBar(stderr)
	opt.Progress = bar.update
	start := time.Now()
	man, err := convert.ConvertContext(ctx, os.DirFS(*dir), *out, opt)
	bar.finish()
	if err != nil {
		return fmt.Errorf("%s: %w", *dir, err)
	}
	var bytes int64
	for _, s := range man.Shards {
		bytes += s.Bytes
	}
	fmt.Fprintf(stdout, "wrote %s: %d adapted matrices, %d shards, %.1f MiB of weights, in %v\n",
		*out, len(man.Matrices), len(man.Shards), float64(bytes)/(1<<20), time.Since(start).Round(time.Millisecond))
	if ref != nil {
		ref.report(stdout, man.Matrices)
	}
	return nil
}

// progressBar shows matrices done, the current one and the time left: a bar redrawn in
// place on a terminal, plain lines otherwise (logs, pipes). Matrices resumed from an
// interrupted run cost no time, so the rate behind the ETA counts only the others.
type progressBar struct {
	w        io.Writer
	terminal bool
	start    time.Time
	drawn    bool
	resumed  int
}

func newProgressBar(w io.Writer) *progressBar {
	b := &progressBar{w: w, start: time.Now()}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil {
			b.terminal = st.Mode()&os.ModeCharDevice != 0
		}
	}
	return b
}

func (b *progressBar) update(done, total int, name string, resumed bool) {
	if resumed {
		b.resumed++
	}
	var eta time.Duration
	if made := done - b.resumed; made > 0 {
		eta = time.Duration(float64(time.Since(b.start)) / float64(made) * float64(total-done)).Round(time.Second)
	}
	how := "decomposed"
	if resumed {
		how = "resumed"
	}
	if !b.terminal {
		fmt.Fprintf(b.w, "%s %d/%d %s (ETA %v)\n", how, done, total, name, eta)
		return
	}
	const width = 30
	filled := width * done / total
	fmt.Fprintf(b.w, "\r[%s%s] %d/%d matrices (%d resumed), ETA %v  %-40.40s", strings.Repeat("#", filled),
		strings.Repeat(".", width-filled), done, total, b.resumed, eta, name)
	b.drawn = true
}

func (b *progressBar) finish() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}

// splitList splits a comma-separated flag value; an empty value is an empty list.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
