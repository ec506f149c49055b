// train/weights.h — the per-row weights of the data term, C_i = C * weight_i (liblinear's
// -wi class weights and -W instance weights), set on a loaded shard before training.
//
// weight_i = instance weight (the --weights file, line first_row + i) times the class weight
// of the row's label (--class-weight LABEL:W, or balanced: rows / (classes * rows of the
// class), counted over every rank). No weights given: the shard keeps none (every row 1).
// liblinear's objective in every case: for two classes (and for the multinomial softmax) the
// class weight scales the row's whole loss; for one-vs-rest with more classes it scales only
// the row's own-class output, the positives of that class's subproblem
// (Dataset::own_class_weight; docs/training.md).
#pragma once

#include "allreduce/communicator.h"
#include "train/options.h"
#include "train/trainer.h"

namespace ringtrain::train {

// Fills data.train.row_weight (test data is never weighted). Bad weights file lines
// (unparsable, negative, not finite) and a line count other than the global row count are
// DataErrors naming file:line; a class weight for a label absent from the data is a warning
// naming the label. Collective: every rank calls it.
void AssignRowWeights(const TrainOptions& options, ShardedData& data,
                      allreduce::Communicator& comm);

}  // namespace ringtrain::train
