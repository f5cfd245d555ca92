using System.Buffers;
using Smp.Protocol.Agent;

namespace Smp.Protocol.Tests.Agent;

/// <summary>Plays the part of a pipe: feeds bytes in chunks, keeps what the parser did not consume.</summary>
internal static class TransmissionFeeder
{
    public static List<AgentTransmission> ParseAll(AgentTransmissionParser parser, byte[] data, int chunk = int.MaxValue, bool segmented = false)
    {
        var results = new List<AgentTransmission>();
        var pending = new List<byte>();
        var maxBuffered = 0;
        for (var offset = 0; offset < data.Length; offset += chunk)
        {
            pending.AddRange(data.AsSpan(offset, Math.Min(chunk, data.Length - offset)).ToArray());
            while (true)
            {
                var seq = segmented ? Segments(pending.ToArray()) : new ReadOnlySequence<byte>(pending.ToArray());
                var status = parser.TryRead(seq, out var consumed, out var examined, out var t);
                var used = (int)seq.Slice(0, consumed).Length;
                pending.RemoveRange(0, used);
                if (status == AgentReadStatus.NeedMoreData)
                {
                    Assert.Null(t);
                    Assert.Equal(seq.End, examined);
                    break;
                }
                results.Add(t!);
            }
            maxBuffered = Math.Max(maxBuffered, pending.Count);
        }
        MaxBuffered = maxBuffered;
        return results;
    }

    /// <summary>The most bytes left unconsumed after any feed of the last ParseAll.</summary>
    [ThreadStatic] public static int MaxBuffered;

    /// <summary>A sequence of one-byte segments, to exercise reads across segment edges.</summary>
    public static ReadOnlySequence<byte> Segments(byte[] data)
    {
        if (data.Length == 0) return ReadOnlySequence<byte>.Empty;
        var first = new Segment(data.AsMemory(0, 1), 0);
        var last = first;
        for (var i = 1; i < data.Length; i++) last = last.Append(data.AsMemory(i, 1));
        return new ReadOnlySequence<byte>(first, 0, last, 1);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
