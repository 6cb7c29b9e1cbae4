package main

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/t2web/t2web/svf"
)

// cmdExpert makes and inspects a pack's SVF experts: t2 expert new|mix|show.
func cmdExpert(args []string, stdout, stderr io.Writer) error {
	sub := map[string]func([]string, io.Writer, io.Writer) error{
		"new": expertNew, "mix": expertMix, "show": expertShow,
	}
	if len(args) == 0 || sub[args[0]] == nil {
		fmt.Fprintln(stderr, "usage: t2 expert new|mix|show --pack DIR [flags]  (t2 expert new --help for each)")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return nil
		}
		return errUsage
	}
	return sub[args[0]](args[1:], stdout, stderr)
}

// expertNew adds a uniform expert: z = value for every singular value (the base model,
// whatever the value, thanks to the nuclear-norm rescale; a starting point).
func expertNew(args []string, stdout, stderr io.Writer) error {
	fs := flags("expert", "new --pack DIR --name NAME [--value 1.0] [--domain D] [--description TEXT]", stderr)
	packDir := fs.String("pack", "", "pack `folder`")
	name := fs.String("name", "", "expert `name`")
	value := fs.Float64("value", 1, "z for every singular value")
	domain := fs.String("domain", "", "task `domain` the expert is for")
	desc := fs.String("description", "", "one line for people")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *packDir == "" || *name == "" || fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	p, err := svf.OpenDir(*packDir)
	if err != nil {
		return err
	}
	e := p.Uniform(*name, float32(*value))
	e.Domain, e.Description = *domain, *desc
	if err := svf.SaveExpert(*packDir, p, e); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added expert %s to %s\n", *name, *packDir)
	return nil
}

// expertMix adds the mixture z' = Σ α_k z_k of the pack's experts as a new expert.
func expertMix(args []string, stdout, stderr io.Writer) error {
	fs := flags("expert", "mix --pack DIR --name NAME --mix a:0.3,b:0.7 [--domain D] [--description TEXT]", stderr)
	packDir := fs.String("pack", "", "pack `folder`")
	name := fs.String("name", "", "name of the new expert")
	mix := fs.String("mix", "", "experts and their α (clamped to [0,1]), e.g. `a:0.3,b:0.7`")
	domain := fs.String("domain", "", "task `domain` the mixture is for")
	desc := fs.String("description", "", "one line for people")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *packDir == "" || *name == "" || *mix == "" || fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	p, err := svf.OpenDir(*packDir)
	if err != nil {
		return err
	}
	experts, alpha, err := parseMix(p, *mix)
	if err != nil {
		return err
	}
	z, err := svf.Mix(experts, alpha, p.Manifest.Matrices)
	if err != nil {
		return err
	}
	e := &svf.Expert{Name: *name, Domain: *domain, Description: *desc, Trained: "mix " + *mix, Z: z, Alpha: alpha}
	for _, x := range experts {
		e.MixOf = append(e.MixOf, x.Name)
	}
	if err := svf.SaveExpert(*packDir, p, e); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "added expert %s = %s to %s\n", *name, *mix, *packDir)
	return nil
}

// expertShow lists the pack's experts, or shows one expert's z per matrix.
func expertShow(args []string, stdout, stderr io.Writer) error {
	fs := flags("expert", "show --pack DIR [--name NAME]", stderr)
	packDir := fs.String("pack", "", "pack `folder`")
	name := fs.String("name", "", "expert to show per matrix; without it, list the experts")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *packDir == "" || fs.NArg() != 0 {
		fs.Usage()
		return errUsage
	}
	p, err := svf.OpenDir(*packDir)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	if *name == "" {
		list, err := p.Experts()
		if err != nil {
			return err
		}
		fmt.Fprintln(tw, "name\tdomain\tscore\ttrained\tdescription")
		for _, e := range list {
			score := "-"
			if e.Score != nil {
				score = fmt.Sprintf("%.4g", *e.Score)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Name, e.Domain, score, e.Trained, e.Description)
		}
		return nil
	}
	e, err := p.Expert(*name)
	if err != nil {
		return err
	}
	fmt.Fprintf(tw, "expert %s (%s): %s\n", e.Name, e.Domain, e.Trained)
	fmt.Fprintln(tw, "matrix\trank\tmean z\tmin z\tmax z")
	for _, m := range p.Manifest.Matrices {
		z := e.Z[m]
		var sum float64
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range z {
			sum += float64(v)
			lo, hi = min(lo, float64(v)), max(hi, float64(v))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.4f\t%.4f\t%.4f\n", m, len(z), sum/float64(len(z)), lo, hi)
	}
	return nil
}
