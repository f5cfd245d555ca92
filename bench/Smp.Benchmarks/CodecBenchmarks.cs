using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using Smp.Protocol.Agent;
using Smp.Protocol.Crypto;
using Smp.Protocol.Smp;

namespace Smp.Benchmarks;

/// <summary>SMP transmissions as the server sees them: a signed SEND carrying an agent-sized body (3,584 bytes).</summary>
[MemoryDiagnoser]
public class SmpTransmissionBenchmarks
{
    private readonly ArrayBufferWriter<byte> _out = new(4096);
    private byte[] _block = [];
    private byte[] _signature = [];
    private byte[] _signedPart = [];
    private SmpCommand _msg = null!;

    [GlobalSetup]
    public void Setup()
    {
        var body = Encoding.ASCII.GetBytes(new string('x', 3584));
        var sid = new byte[12];
        _signedPart = SmpTransmissionCodec.SignedPart("123"u8, sid, new SmpCommand.Send(body));
        _signature = SmpRsa.Sign(Keys.Rsa2048, _signedPart);
        var w = new ArrayBufferWriter<byte>();
        SmpTransmissionCodec.WriteWithSignature(w, _signature, _signedPart);
        // A decrypted block: the transmission padded with '#' to 4096 - 16 bytes.
        _block = new byte[4080];
        _block.AsSpan().Fill((byte)'#');
        w.WrittenSpan.CopyTo(_block);
        _msg = new SmpCommand.Msg(new byte[6], DateTimeOffset.UnixEpoch, body);
    }

    [Benchmark(Description = "parse SEND from client (block)")]
    public SmpTransmission ParseSend() => SmpTransmissionCodec.ParseFromClient(_block, _block);

    [Benchmark(Description = "write signed SEND (presigned)")]
    public int WriteSend()
    {
        _out.ResetWrittenCount();
        SmpTransmissionCodec.WriteWithSignature(_out, _signature, _signedPart);
        return _out.WrittenCount;
    }

    [Benchmark(Description = "serialise MSG push")]
    public int WriteMsg()
    {
        _out.ResetWrittenCount();
        SmpTransmissionCodec.Write(_out, null, ""u8, new byte[12], _msg);
        return _out.WrittenCount;
    }
}

/// <summary>The plaintext inside the E2E layer: a chained MSG and a group G_MSG, each with a 1,000-byte body.</summary>
[MemoryDiagnoser]
public class AgentPlaintextBenchmarks
{
    private AgentPlaintext _msg = null!;
    private AgentPlaintext _gmsg = null!;
    private byte[] _msgBytes = [];
    private byte[] _gmsgBytes = [];

    [GlobalSetup]
    public void Setup()
    {
        var body = Encoding.ASCII.GetBytes(new string('b', 1000));
        var hash = new byte[AgentPlaintextCodec.HashSize];
        var now = new DateTimeOffset(2026, 1, 2, 3, 4, 5, 678, TimeSpan.Zero);
        _msg = new AgentPlaintext.Message(42, now, hash, new AgentEnvelope.Msg(body));
        _gmsg = new AgentPlaintext.Message(43, now, hash, new AgentEnvelope.GMsg(new byte[16], 7, hash, body));
        _msgBytes = AgentPlaintextCodec.Encode(_msg);
        _gmsgBytes = AgentPlaintextCodec.Encode(_gmsg);
    }

    [Benchmark(Description = "encode MSG")]
    public byte[] EncodeMsg() => AgentPlaintextCodec.Encode(_msg);

    [Benchmark(Description = "decode MSG")]
    public AgentPlaintext DecodeMsg() => AgentPlaintextCodec.Decode(_msgBytes);

    [Benchmark(Description = "encode G_MSG")]
    public byte[] EncodeGMsg() => AgentPlaintextCodec.Encode(_gmsg);

    [Benchmark(Description = "decode G_MSG")]
    public AgentPlaintext DecodeGMsg() => AgentPlaintextCodec.Decode(_gmsgBytes);
}

/// <summary>The agent's client protocol: the agent reading a client's SEND with a 1,000-byte body, whole or in 64-byte segments.</summary>
[MemoryDiagnoser]
public class AgentTransmissionParserBenchmarks
{
    private ReadOnlySequence<byte> _whole;
    private ReadOnlySequence<byte> _segmented;

    [GlobalSetup]
    public void Setup()
    {
        var bytes = AgentTransmissionCodec.ToBytes("17", "bob", new AgentCommand.Send(Encoding.ASCII.GetBytes(new string('b', 1000))));
        _whole = new ReadOnlySequence<byte>(bytes);
        _segmented = Segments.Of(bytes, 64);
    }

    [Benchmark(Description = "read SEND, one segment")]
    public AgentTransmission? ReadWhole() => Read(_whole);

    [Benchmark(Description = "read SEND, 64-byte segments")]
    public AgentTransmission? ReadSegmented() => Read(_segmented);

    private static AgentTransmission? Read(ReadOnlySequence<byte> buffer)
    {
        var parser = new AgentTransmissionParser(AgentParty.Client);
        parser.TryRead(buffer, out _, out _, out var t);
        return t;
    }
}

/// <summary>A <see cref="ReadOnlySequence{T}"/> split into segments, as a pipe hands out data that came in pieces.</summary>
internal sealed class Segments : ReadOnlySequenceSegment<byte>
{
    private Segments(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    public static ReadOnlySequence<byte> Of(byte[] bytes, int size)
    {
        var first = new Segments(bytes.AsMemory(0, Math.Min(size, bytes.Length)), 0);
        var last = first;
        for (var at = size; at < bytes.Length; at += size)
        {
            var next = new Segments(bytes.AsMemory(at, Math.Min(size, bytes.Length - at)), at);
            last.Next = next;
            last = next;
        }
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }
}
