/* lstm.c: shape inference for LSTM: X [seq, batch, input] (layout 1: [batch, seq, input]);
 * Y [seq, dirs, batch, hidden] (layout 1: [batch, seq, dirs, hidden]); Y_h and Y_c
 * [dirs, batch, hidden] (layout 1: [batch, dirs, hidden]). All outputs are optional. */
#include "backends/ref/ref_compute_util.h"

tfmq_status tq_infer_lstm(tq_op_ctx *ctx)
{
    return tq_rc_rnn_infer(ctx, 4);
}
