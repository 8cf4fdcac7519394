// Softmax as Darknet's softmax_cpu computes it: max, then e = exp(x/t - max/t) summed in order in
// float, then e/sum - one thread per softmax, so the sum runs in the C code's order.
//
// Indices are Darknet's flat ones (b*inputs + offset within the image), the arguments those of its
// calls: softmax_forward is softmax_cpu(input + start, n, batch, batch_offset, groups, group_offset,
// stride, temp) as [softmax] (groups) and [region] (classes of each anchor and cell) call it;
// softmax_tree_forward is the WordTree softmax of Darknet's GPU softmax_tree: one softmax per tree
// group, over `spatial`-strided entries. Each flat index is mapped into the (C, B, H, W) buffer by
// plane_index(inputs, images, plane). x may equal y. The backward pass (y - truth) lives with the loss.
#include "common.cuh"

__device__ void softmax_strided(const float* x, float* y, int first, int n, int stride, float temp, int inputs,
                                int images, int plane)
{
    float largest = -FLT_MAX_F;
    for (int k = 0; k < n; ++k) {
        const float v = x[plane_index(first + k * stride, inputs, images, plane)];
        largest = v > largest ? v : largest;
    }
    float sum = 0;
    for (int k = 0; k < n; ++k) {
        const int at = plane_index(first + k * stride, inputs, images, plane);
        const float e = (float)exp((double)(x[at] / temp - largest / temp));
        sum += e;
        y[at] = e;
    }
    for (int k = 0; k < n; ++k) y[plane_index(first + k * stride, inputs, images, plane)] /= sum;
}

extern "C" __global__ void softmax_forward(const float* x, float* y, int n, int batch, int batch_offset,
                                           int groups, int group_offset, int stride, float temp, int start,
                                           int inputs, int images, int plane)
{
    const int t = thread_index(batch * groups);
    if (t < 0) return;
    const int first = start + t / groups * batch_offset + t % groups * group_offset;
    softmax_strided(x, y, first, n, stride, temp, inputs, images, plane);
}

extern "C" __global__ void softmax_tree_forward(const float* x, float* y, const int* group_offsets,
                                                const int* group_sizes, int groups, int batch, int batch_offset,
                                                int spatial, int start, float temp, int inputs, int images,
                                                int plane)
{
    const int t = thread_index(batch * spatial * groups);
    if (t < 0) return;
    const int s = t % spatial;  // neighbouring threads take neighbouring cells: coalesced reads
    const int g = t / spatial % groups;
    const int b = t / (spatial * groups);
    const int first = start + b * batch_offset + s + group_offsets[g] * spatial;
    softmax_strided(x, y, first, group_sizes[g], spatial, temp, inputs, images, plane);
}
