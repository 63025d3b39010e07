/* onnx_pb.c: the protobuf layer under the ONNX importer. Routes protobuf-c's allocations to the
 * tfmq allocator (so OOM torture reaches them), and walks the wire format with the generated
 * descriptors before protobuf-c unpacks it: protobuf-c recurses without a depth limit, so this
 * walk is what keeps a hostile file from exhausting the stack. Also the ONNX content sniffer. */
#include <string.h>

#include "import/onnx/onnx_internal.h"

/* ---- allocator bridge: protobuf-c's free() gets no size, tfmq's does, so keep it in front ---- */

#define TQ_PB_HDR 16

static void *tq_onnx_pb_alloc_fn(void *user, size_t size)
{
    tq_onnx_pb_alloc *pa = user;
    size_t total;
    if (!tq_add_size(size, TQ_PB_HDR, &total)) {
        pa->oom = true;
        return NULL;
    }
    unsigned char *p = tq_alloc(pa->alloc, total);
    if (!p) {
        pa->oom = true;
        return NULL;
    }
    memcpy(p, &size, sizeof(size));
    return p + TQ_PB_HDR;
}

static void tq_onnx_pb_free_fn(void *user, void *ptr)
{
    tq_onnx_pb_alloc *pa = user;
    size_t size;
    if (!ptr) {
        return;
    }
    unsigned char *p = (unsigned char *)ptr - TQ_PB_HDR;
    memcpy(&size, p, sizeof(size));
    tq_free(pa->alloc, p, size + TQ_PB_HDR);
}

void tq_onnx_pb_alloc_init(tq_onnx_pb_alloc *pa, const tfmq_allocator *alloc)
{
    memset(pa, 0, sizeof(*pa));
    pa->pb.alloc = tq_onnx_pb_alloc_fn;
    pa->pb.free = tq_onnx_pb_free_fn;
    pa->pb.allocator_data = pa;
    pa->alloc = alloc;
}

/* ---- wire-format walk ---- */

enum { TQ_W_OK = 0, TQ_W_TRUNC, TQ_W_BAD, TQ_W_DEEP, TQ_W_MANY };

typedef struct tq_wire_walk {
    const uint8_t *base;
    size_t n_msgs;
    size_t err_off;  /* byte offset of the first problem */
    bool prefix;     /* the bytes may be a prefix of the file: running out is not an error */
    bool strict;     /* sniffing: known fields need their wire type; producer and domain are text */
} tq_wire_walk;

static int tq_wire_varint(const uint8_t **pp, const uint8_t *end, uint64_t *v_out)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (unsigned i = 0; i < 10; i++) {
        if (p >= end) {
            return TQ_W_TRUNC;
        }
        uint8_t b = *p++;
        if (i == 9 && b > 1) {
            return TQ_W_BAD;
        }
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *pp = p;
            *v_out = v;
            return TQ_W_OK;
        }
    }
    return TQ_W_BAD;
}

static bool tq_wire_type_ok(const ProtobufCFieldDescriptor *f, unsigned wt)
{
    bool packable = f->label == PROTOBUF_C_LABEL_REPEATED && wt == 2;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_BOOL:
    case PROTOBUF_C_TYPE_ENUM:
        return wt == 0 || packable;
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_FLOAT:
        return wt == 5 || packable;
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return wt == 1 || packable;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
    case PROTOBUF_C_TYPE_MESSAGE:
        return wt == 2;
    }
    return false;
}

/* UTF-8 text without control characters other than tab, CR and LF. `cut`: the string was cut
 * by the end of the buffer, so an incomplete last sequence is fine. */
static bool tq_wire_is_text(const uint8_t *s, size_t n, bool cut)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t extra;
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
                return false;
            }
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            extra = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            extra = 2;
        } else if (c >= 0xf0 && c <= 0xf4) {
            extra = 3;
        } else {
            return false;
        }
        for (size_t k = 1; k <= extra; k++) {
            if (i + k >= n) {
                return cut;
            }
            if ((s[i + k] & 0xc0) != 0x80) {
                return false;
            }
        }
        i += extra + 1;
    }
    return true;
}

static int tq_wire_walk_msg(tq_wire_walk *w, const ProtobufCMessageDescriptor *d,
                            const uint8_t *p, const uint8_t *end, int depth)
{
    if (depth > TQ_ONNX_MAX_MSG_DEPTH) {
        w->err_off = (size_t)(p - w->base);
        return TQ_W_DEEP;
    }
    if (++w->n_msgs > TQ_ONNX_MAX_MESSAGES) {
        w->err_off = (size_t)(p - w->base);
        return TQ_W_MANY;
    }
    while (p < end) {
        const uint8_t *field_start = p;
        uint64_t tag, v;
        int r = tq_wire_varint(&p, end, &tag);
        if (r != TQ_W_OK) {
            w->err_off = (size_t)(field_start - w->base);
            return r;
        }
        uint64_t num = tag >> 3;
        unsigned wt = (unsigned)(tag & 7);
        if (num == 0 || num > 536870911u) {
            w->err_off = (size_t)(field_start - w->base);
            return TQ_W_BAD;
        }
        const ProtobufCFieldDescriptor *f =
            d ? protobuf_c_message_descriptor_get_field(d, (unsigned)num) : NULL;
        if (w->strict && f && !tq_wire_type_ok(f, wt)) {
            w->err_off = (size_t)(field_start - w->base);
            return TQ_W_BAD;
        }
        switch (wt) {
        case 0:
            r = tq_wire_varint(&p, end, &v);
            if (r != TQ_W_OK) {
                w->err_off = (size_t)(field_start - w->base);
                return r;
            }
            break;
        case 1:
        case 5: {
            size_t need = wt == 1 ? 8 : 4;
            if ((size_t)(end - p) < need) {
                w->err_off = (size_t)(field_start - w->base);
                return TQ_W_TRUNC;
            }
            p += need;
            break;
        }
        case 2: {
            r = tq_wire_varint(&p, end, &v);
            if (r != TQ_W_OK) {
                w->err_off = (size_t)(field_start - w->base);
                return r;
            }
            size_t avail = (size_t)(end - p);
            bool cut = v > avail;
            if (cut && !w->prefix) {
                w->err_off = (size_t)(field_start - w->base);
                return TQ_W_TRUNC;
            }
            size_t len = cut ? avail : (size_t)v;
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                r = tq_wire_walk_msg(w, f->descriptor, p, p + len, depth + 1);
                if (r != TQ_W_OK) {
                    return r;
                }
            } else if (w->strict && depth == 0 && num >= 2 && num <= 4 &&
                       !tq_wire_is_text(p, len, cut)) {
                /* ModelProto producer_name, producer_version, domain: short text */
                w->err_off = (size_t)(p - w->base);
                return TQ_W_BAD;
            }
            if (cut) {
                w->err_off = (size_t)(end - w->base);
                return TQ_W_TRUNC;
            }
            p += len;
            break;
        }
        default: /* 3, 4: groups (not used by ONNX); 6, 7: invalid */
            w->err_off = (size_t)(field_start - w->base);
            return TQ_W_BAD;
        }
    }
    return TQ_W_OK;
}

tfmq_status tq_onnx_wire_check(const ProtobufCMessageDescriptor *desc, const void *data,
                               size_t n_bytes, const char *what)
{
    tq_wire_walk w;
    memset(&w, 0, sizeof(w));
    w.base = data;
    if (!data && n_bytes) {
        return tq_fail(TFMQ_ERR_INVALID_ARG, "onnx: %s: NULL data", what);
    }
    int r = tq_wire_walk_msg(&w, desc, w.base, w.base + n_bytes, 0);
    switch (r) {
    case TQ_W_OK:
        return TFMQ_OK;
    case TQ_W_TRUNC:
        return tq_fail(TFMQ_ERR_PARSE,
                       "onnx: %s: truncated protobuf (a field at byte %zu runs past the end of "
                       "the %zu bytes)",
                       what, w.err_off, n_bytes);
    case TQ_W_DEEP:
        return tq_fail(TFMQ_ERR_UNSUPPORTED,
                       "onnx: %s: messages nested deeper than %d levels (at byte %zu)", what,
                       TQ_ONNX_MAX_MSG_DEPTH, w.err_off);
    case TQ_W_MANY:
        return tq_fail(TFMQ_ERR_UNSUPPORTED, "onnx: %s: more than %zu protobuf messages", what,
                       TQ_ONNX_MAX_MESSAGES);
    default:
        return tq_fail(TFMQ_ERR_PARSE, "onnx: %s: malformed protobuf at byte %zu", what,
                       w.err_off);
    }
}

/* ---- sniffing ---- */

/* The first field must be a ModelProto field with its wire type (writers put ir_version first,
 * and a plausible version is checked), and whatever bytes are given must walk as a ModelProto
 * whose producer_name, producer_version and domain are text. The text rule is what tells ONNX from a TensorFlow
 * SavedModel, whose field 1 is also a small varint and field 2 a length-delimited blob. */
bool tq_onnx_sniff(const void *data, size_t n_bytes)
{
    const uint8_t *p = data, *end;
    uint64_t tag, v;
    if (!data || n_bytes < 2) {
        return false;
    }
    end = p + n_bytes;
    if (tq_wire_varint(&p, end, &tag) != TQ_W_OK) {
        return false;
    }
    const ProtobufCFieldDescriptor *f =
        (tag >> 3) == 0 || (tag >> 3) > 536870911u
            ? NULL
            : protobuf_c_message_descriptor_get_field(&onnx__model_proto__descriptor,
                                                      (unsigned)(tag >> 3));
    if (!f || !tq_wire_type_ok(f, (unsigned)(tag & 7))) {
        return false;
    }
    if ((tag >> 3) == 1) { /* ir_version */
        if (tq_wire_varint(&p, end, &v) != TQ_W_OK || v == 0 || v > 1000) {
            return false;
        }
    }
    tq_wire_walk w;
    memset(&w, 0, sizeof(w));
    w.base = data;
    w.prefix = true;
    w.strict = true;
    int r = tq_wire_walk_msg(&w, &onnx__model_proto__descriptor, w.base, end, 0);
    /* too deep or too many messages: still ONNX-shaped; the importer reports the limit */
    return r == TQ_W_OK || r == TQ_W_TRUNC || r == TQ_W_DEEP || r == TQ_W_MANY;
}
