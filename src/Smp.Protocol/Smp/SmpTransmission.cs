using System.Buffers;
using System.Security.Cryptography;
using Smp.Protocol.Crypto;
using Smp.Protocol.Encodings;

namespace Smp.Protocol.Smp;

/// <summary>
/// One parsed transmission (smp-wire.md §3). Either <see cref="Command"/> is set, or <see cref="Error"/>
/// says what to answer (with <see cref="CorrId"/> and <see cref="QueueId"/> echoed as far as they were read).
/// </summary>
public sealed record SmpTransmission(byte[] Signature, byte[] CorrId, byte[] QueueId, SmpCommand? Command, SmpErrorCode? Error = null)
{
    /// <summary>The bytes a signature covers: <c>corrId SP b64(queueId) SP command</c>.</summary>
    public byte[] SignedBytes() => Command is null ? [] : SmpTransmissionCodec.SignedPart(CorrId, QueueId, Command);

    /// <summary>As <see cref="SignedBytes"/>, into a writer the caller reuses (the server, once per command).</summary>
    public void WriteSignedBytes(IBufferWriter<byte> w)
    {
        if (Command is not null) SmpTransmissionCodec.WriteSignedPart(w, CorrId, QueueId, Command);
    }
}

/// <summary>
/// <code>
/// transmission = signature SP corrId SP queueId SP command SP [padding]
/// signature    = "" / b64(RSA-PSS signature of 128, 256 or 512 bytes)
/// corrId       = *(%x21-7E)
/// queueId      = "" / b64(id)
/// </code>
/// The signature covers the canonical serialisation of <c>corrId SP queueId SP command</c>, as the
/// reference re-serialises the parsed command before verifying.
/// </summary>
public static class SmpTransmissionCodec
{
    public const int MaxCorrIdLength = 64;

    /// <summary>A scratch writer per thread for <see cref="ToBytes"/> and <see cref="SignedPart"/>: the result is copied out once, at its exact size.</summary>
    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_scratch;

    private static ArrayBufferWriter<byte> Scratch()
    {
        var w = t_scratch ??= new ArrayBufferWriter<byte>(4096);
        w.ResetWrittenCount();
        return w;
    }

    public static byte[] SignedPart(ReadOnlySpan<byte> corrId, ReadOnlySpan<byte> queueId, SmpCommand command)
    {
        var w = Scratch();
        WriteSignedPart(w, corrId, queueId, command);
        return w.WrittenSpan.ToArray();
    }

    /// <summary><c>corrId SP b64(queueId) SP command</c>, the part a signature covers.</summary>
    public static void WriteSignedPart(IBufferWriter<byte> w, ReadOnlySpan<byte> corrId, ReadOnlySpan<byte> queueId, SmpCommand command)
    {
        w.Write(corrId);
        w.Write(" "u8);
        B64.Write(w, queueId);
        w.Write(" "u8);
        SmpCodec.Write(w, command);
    }

    /// <summary>Writes <c>b64(sig) SP signedPart SP</c>; unsigned when <paramref name="key"/> is null.</summary>
    public static void Write(IBufferWriter<byte> w, RSA? key, ReadOnlySpan<byte> corrId, ReadOnlySpan<byte> queueId, SmpCommand command)
    {
        if (key is null)
        {
            // Unsigned (every server transmission): straight into the writer, no intermediate copy.
            w.Write(" "u8);
            WriteSignedPart(w, corrId, queueId, command);
            w.Write(" "u8);
            return;
        }
        var signed = SignedPart(corrId, queueId, command);
        B64.Write(w, SmpRsa.Sign(key, signed));
        w.Write(" "u8);
        w.Write(signed);
        w.Write(" "u8);
    }

    /// <summary>Writes a transmission with a precomputed signature (possibly empty).</summary>
    public static void WriteWithSignature(IBufferWriter<byte> w, ReadOnlySpan<byte> signature, ReadOnlySpan<byte> signedPart)
    {
        B64.Write(w, signature);
        w.Write(" "u8);
        w.Write(signedPart);
        w.Write(" "u8);
    }

    public static byte[] ToBytes(RSA? key, ReadOnlySpan<byte> corrId, ReadOnlySpan<byte> queueId, SmpCommand command)
    {
        if (key is not null)
        {
            // Signing nests a SignedPart, which uses the scratch writer itself.
            var signed = new ArrayBufferWriter<byte>(256);
            Write(signed, key, corrId, queueId, command);
            return signed.WrittenSpan.ToArray();
        }
        var w = Scratch();
        Write(w, null, corrId, queueId, command);
        return w.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Splits and decodes a decrypted block and parses its command. Framing, b64 and signature-size faults
    /// are BLOCK; command faults CMD SYNTAX. <paramref name="source"/>, when given, is the memory behind
    /// <paramref name="plaintext"/>, so that message bodies are sliced rather than copied.
    /// </summary>
    public static SmpTransmission Parse(ReadOnlySpan<byte> plaintext, ReadOnlyMemory<byte> source = default)
    {
        if (!TakeSegment(ref plaintext, out var sigText, out var consumed1)
            || !TakeSegment(ref plaintext, out var corrId, out var consumed2))
            return Fail([], [], SmpErrorCode.Block);
        var corr = corrId.ToArray();
        if (corr.Length > MaxCorrIdLength || !TakeSegment(ref plaintext, out var queueText, out var consumed3))
            return Fail(corr, [], SmpErrorCode.Block);
        if (!B64.TryDecode(sigText, out var signature) || !B64.TryDecode(queueText, out var queueId))
            return Fail(corr, [], SmpErrorCode.Block);
        if (signature.Length != 0 && !SmpRsa.IsAllowedModulusBytes(signature.Length))
            return Fail(corr, queueId, SmpErrorCode.Block);
        var offset = consumed1 + consumed2 + consumed3;
        try
        {
            var command = SmpCodec.Parse(plaintext, source.IsEmpty ? default : source[offset..]);
            return new SmpTransmission(signature, corr, queueId, command);
        }
        catch (SmpProtocolException e)
        {
            return new SmpTransmission(signature, corr, queueId, null, e.Code);
        }
    }

    /// <summary>
    /// Parses a transmission a client sent to a server and applies the credential rules of
    /// smp-wire.md §4: broker responses are PROHIBITED; NEW needs a signature and no queue id; SEND a queue
    /// id; PING neither; every other recipient command both.
    /// </summary>
    public static SmpTransmission ParseFromClient(ReadOnlySpan<byte> plaintext, ReadOnlyMemory<byte> source = default)
    {
        var t = Parse(plaintext, source);
        if (t.Command is not { } c) return t;
        var error = CheckCredentials(c, t.Signature.Length != 0, t.QueueId.Length != 0);
        return error is null ? t : t with { Command = null, Error = error };
    }

    public static SmpErrorCode? CheckCredentials(SmpCommand command, bool hasSignature, bool hasQueueId) => command switch
    {
        { Party: SmpParty.Broker } => SmpErrorCode.CmdProhibited,
        SmpCommand.New when !hasSignature => SmpErrorCode.CmdNoAuth,
        SmpCommand.New when hasQueueId => SmpErrorCode.CmdHasAuth,
        SmpCommand.New => null,
        SmpCommand.Send when !hasQueueId => SmpErrorCode.CmdNoQueue,
        SmpCommand.Send => null,
        SmpCommand.Ping when hasSignature || hasQueueId => SmpErrorCode.CmdHasAuth,
        SmpCommand.Ping => null,
        _ when !hasSignature || !hasQueueId => SmpErrorCode.CmdNoAuth,
        _ => null,
    };

    private static SmpTransmission Fail(byte[] corrId, byte[] queueId, SmpErrorCode code) => new([], corrId, queueId, null, code);

    /// <summary>Takes bytes up to the next SP and the SP itself.</summary>
    private static bool TakeSegment(ref ReadOnlySpan<byte> text, out ReadOnlySpan<byte> segment, out int consumed)
    {
        var sp = text.IndexOf((byte)' ');
        if (sp < 0)
        {
            segment = default;
            consumed = 0;
            return false;
        }
        segment = text[..sp];
        text = text[(sp + 1)..];
        consumed = sp + 1;
        return true;
    }
}
