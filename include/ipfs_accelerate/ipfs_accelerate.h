// Public API of ipfs-accelerate: tensors, ops, checkpoint loading and the model registry.
#pragma once
#include "core/error.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "io/config.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "models/model.h"
#include "ops/ops.h"
