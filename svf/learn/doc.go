// Package learn trains an expert (package svf) of a pack: z = sigmoid(p)·max_mult for
// every adapted matrix, with gradients flowing only into p (ARCHITECTURE §1), either by
// REINFORCE with a KL penalty towards the base model,
//
//	J = E[ log π_{W'}(ŷ|x) · r(x, ŷ) ] − λ · KL(π_{W'} ‖ π_W)     r = ±1
//
// or by the next-token objective on reference answers ([NextToken]), which the page
// uses on the user's few examples. [TrainExpert] runs either; [SplitExamples] holds
// some examples out for validation, and the best iterate on them is the expert.
//
// It is a package of its own, and not part of svf, because it runs the training
// backward pass of package model/train, which the page's engine worker (engine.wasm)
// never needs: t2 (build/) and the trainer worker (./wasm/trainer, fetched only when the
// page trains) import learn; the engine imports svf alone.
//
// Shapes are in package svf's letters (T tokens, V vocabulary, R rank of a matrix).
package learn
