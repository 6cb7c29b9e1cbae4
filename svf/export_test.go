package svf

import (
	"github.com/t2web/t2web/model"
	"github.com/t2web/t2web/svf/tasks"
)

// What the tests of package svf_test need of this package's unexported parts. They are
// external because they make packs with svf/convert, which imports svf.

// LogSoftmaxAt is logSoftmaxAt.
var LogSoftmaxAt = logSoftmaxAt

// ScorePopulation is scorePopulation over examples made into items as Adapt makes them.
func ScorePopulation(m *model.Model, e model.Engine, zs []map[string][]float32, examples []tasks.Example, opt FewShotOptions) ([]Score, error) {
	items, err := fewShotItems(m, e, examples)
	if err != nil {
		return nil, err
	}
	return scorePopulation(m, e, zs, items, opt)
}
