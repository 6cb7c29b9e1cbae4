package torchpt_test

import (
	"fmt"
	"log"

	"github.com/t2web/t2web/model/torchpt"
)

// The reference's policy_params.pt: one bf16 vector p per MLP weight, read without
// running its pickle.
func ExampleOpen() {
	f, err := torchpt.Open("../../build/testdata/reference/policy_params.pt")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	for _, t := range f.Tensors()[:2] {
		p, err := t.Float32()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(t.Name, t.DType, t.Shape, len(p))
	}
	// Output:
	// learnable_params_module_list.0 BF16 [32] 32
	// learnable_params_module_list.1 BF16 [32] 32
}
