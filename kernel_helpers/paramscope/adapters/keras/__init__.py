"""Keras 3 adapter (TensorFlow backend): layers and variables of `keras.layers.Layer` / `keras.Model` models.

Quirks written down here so that nobody has to find them again:
- Paths. A block is a layer, at `layer.path` (names joined by "/", set when the layer is built: a Sequential's
  layers are "sequential/dense", a functional model's have no model prefix, "dense"); a parameter is a
  variable, at `variable.path` ("sequential/dense/kernel"). Where Keras gives none (an unbuilt layer) or gives
  one taken already, the path is structural: the parent's path, "/", the layer's name or the variable's
  attribute name ("kernel" for Dense's `_kernel`). All Keras variables are parameters; `trainable` tells
  BatchNorm's moving statistics and frozen weights apart, as `layer.non_trainable_weights` does.
- A layer used at two places. A functional model may call one layer several times (one `Node` per call in
  `layer._inbound_nodes`, listed in `model._nodes`); the n-th call of it (n >= 2) is shown as a second block
  at "<path of the first call>@n" (e.g. "dense_1@2", its kernel at "dense_1@2/kernel"), so the path stays the
  same as long as the model's graph does. A subclassed model's layer is shown once, at its tracked attribute,
  as PyTorch shows a module called twice in `forward`.
- Untying a call (`untie_block`). A functional model runs its graph node by node: `_run_through_graph` calls
  `node.operation` for each node of `model._nodes_by_depth`. So one call gets its own layer by rebinding that
  node: a clone of the layer (`from_config(get_config())` with a new name, "<name>_<n>", built from
  `get_build_config()` in the layer's name scope, new variables holding copies of the values) becomes
  `node.operation`, the node's outputs' `_keras_history` and the layers' `_inbound_nodes`/`_outbound_nodes`
  point at it, Keras' own `map_graph` re-makes `_nodes`, `_nodes_by_depth`, `_operations` (so `model.layers`,
  `get_config` and saving see two layers) and the clone is tracked in `model._layers` right after the layer
  (so `trainable_variables`, `weights` and `count_params` count it). The old layer keeps the node in its
  `_inbound_nodes` (node indices of its other calls stay valid) but the key is gone from `model._nodes`. The
  other calls of that layer then shift down a number ("d@3" becomes "d@2"). A built optimizer of the model
  learns the clone's variables with copies of the original's slots (momentum, ...); an optimizer the model
  does not hold must be re-made. The snapshot keeps every node's layer and output history, the node lists,
  the model's maps (the same objects, refilled in place) and tracked layers, and the optimizer's variable
  index and lists. Refused: a node that another live model was built from too (found with
  `gc.get_referrers`: rewiring it would change that model), a layer Keras cannot re-create from its config,
  and a layer held again by a Sequential or a subclassed layer (run from its layer list or Python code, not
  from call nodes; a subclassed model calling `self.layer` twice shows one block, with nothing to untie).
- Unbuilt layers have no variables at all (`layer.kernel` raises). Dense, Conv*, Embedding, BatchNormalization
  and LayerNormalization get placeholder parameters with the known part of the shape (None for the input size)
  and state "unbuilt"; other unbuilt layers show as an unbuilt block without parameters until the first call.
- Initializers. A Keras initializer built with `seed=None` draws its seed once, at construction, and then
  returns the same values on every call, so calling `layer.kernel_initializer` again is not a reinit.
  paramscope clones every seeded Keras initializer with a fresh integer seed per variable, drawn from a
  private numpy Generator (seeded by `seed=` or by the OS), so integer seeds take Keras' stateless random ops
  and no global state moves. `default` is the layer's `<name>_initializer` (`kernel_initializer`,
  `moving_mean_initializer`, ...). A custom initializer (`keras.initializers.Initializer` subclass or
  `fn(shape, dtype)`) that draws from global generators runs, when `seed=` is given, with numpy's, Python's,
  TensorFlow's (op seed and global `tf.random.Generator`) and Keras' global SeedGenerator set from the seed,
  and all of them put back afterwards.
- Tying. Keras 3 layers keep variables in attributes (`Dense._kernel`, `Dense.bias`) and in their tracker
  lists (`_trainable_variables`, `_non_trainable_variables`, locked after build). `tie` rebinds both to the
  other variable (bypassing the locked tracker and fixing its id sets), so forward passes use the shared
  variable, `model.trainable_variables` lists it once and a tape's gradient adds up over its uses. `untie`
  gives the slot back the variable it had before the tie (with the shared values), so an optimizer built
  before the tie still knows it; a slot that never had another one gets a new variable of the same name.
  Functions traced before a tie or untie captured the old variables: the model's train/test/predict functions
  are re-made for that; a `tf.function` of the user's own must be re-created. Two variables of one layer
  cannot be tied (one slot would then hide the other in the layer's tracker).
- Gradients come from the user's GradientTape and live nowhere on the variable; `grads` records those a
  Keras optimizer applies (custom loops with `apply_gradients` and `model.fit`).
- Watching (`ps.watch`). A step is one `model.fit` batch (the model's train function is wrapped on the instance,
  as is `make_train_function`, which makes it anew) or, in a custom loop, one optimizer apply that updates a
  variable of the model: eager, or in a `tf.function` traced while the watch runs (one traced before runs no
  Python per step and records nothing: re-create it). steps_per_execution > 1 and XLA-compiled custom steps
  run no Python per step and are refused. A fit call that finds no batch (the end of an epoch of unknown
  length) hands its count to the next step.

One module per concern: `paths` (index and paths), `values` (reading values, statistics, set_value), `tying`
and `cloning` (tie/untie, untie_block), `snapshot` (undo), `reinit`, `grads` and `watch` (recorded gradients,
training steps); what differs between backends sits behind `backend.Backend`, one `backend_<name>` module each.
"""

from __future__ import annotations

from .adapter import KerasAdapter

ADAPTER = KerasAdapter()
