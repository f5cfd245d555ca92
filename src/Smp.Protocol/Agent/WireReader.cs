using System.Buffers.Text;
using Smp.Protocol.Encodings;

namespace Smp.Protocol.Agent;

/// <summary>
/// A cursor over one envelope plaintext or one command line. Every failure throws
/// <see cref="AgentProtocolException"/> with the code the caller chose (A_MESSAGE for envelopes, CMD SYNTAX
/// for commands); the public decoders catch it, so nothing else escapes.
/// </summary>
internal ref struct WireReader(ReadOnlySpan<byte> text, AgentErrorCode failure)
{
    /// <summary>Decoded ids above this size are refused: every id we make is 32 bytes or less.</summary>
    public const int MaxIdBytes = 64;

    private readonly ReadOnlySpan<byte> _text = text;
    private int _pos;

    public readonly int Position => _pos;
    public readonly bool AtEnd => _pos == _text.Length;
    public readonly ReadOnlySpan<byte> Rest => _text[_pos..];

    public readonly AgentProtocolException Fail() => new(failure);

    private static bool IsDelimiter(byte b) => b is (byte)' ' or (byte)'\n' or (byte)'\r';

    /// <summary>Matches a keyword followed by SP, a line end or the end of the text; the delimiter is not consumed.</summary>
    public bool Keyword(ReadOnlySpan<byte> kw)
    {
        var rest = Rest;
        if (!rest.StartsWith(kw) || (rest.Length > kw.Length && !IsDelimiter(rest[kw.Length]))) return false;
        _pos += kw.Length;
        return true;
    }

    public void Sp() => Literal(" "u8);

    public void Skip(int count)
    {
        if (count < 0 || count > _text.Length - _pos) throw Fail();
        _pos += count;
    }

    public bool TrySp()
    {
        if (AtEnd || _text[_pos] != (byte)' ') return false;
        _pos++;
        return true;
    }

    public void Literal(ReadOnlySpan<byte> literal)
    {
        if (!Rest.StartsWith(literal)) throw Fail();
        _pos += literal.Length;
    }

    /// <summary>LF or CRLF.</summary>
    public void Eol()
    {
        if (Rest.StartsWith("\r\n"u8)) _pos += 2;
        else if (Rest.StartsWith("\n"u8)) _pos++;
        else throw Fail();
    }

    public readonly void End()
    {
        if (!AtEnd) throw Fail();
    }

    /// <summary>Bytes up to SP, CR, LF or the end; possibly empty.</summary>
    public ReadOnlySpan<byte> Word()
    {
        var rest = Rest;
        var end = rest.IndexOfAny((byte)' ', (byte)'\n', (byte)'\r');
        if (end < 0) end = rest.Length;
        _pos += end;
        return rest[..end];
    }

    /// <summary>Everything left; used for text bodies and errors that end the line.</summary>
    public ReadOnlySpan<byte> TakeRest()
    {
        var rest = Rest;
        _pos = _text.Length;
        return rest;
    }

    /// <summary>1 to <paramref name="maxDigits"/> ASCII digits (at most 18, so it fits a long).</summary>
    public long Decimal(int maxDigits = 18)
    {
        var digits = Word();
        if (!TryParseDecimal(digits, maxDigits, out var value)) throw Fail();
        return value;
    }

    public static bool TryParseDecimal(ReadOnlySpan<byte> digits, int maxDigits, out long value)
    {
        value = 0;
        if (digits.IsEmpty || digits.Length > maxDigits) return false;
        foreach (var d in digits) if (d is < (byte)'0' or > (byte)'9') return false;
        return Utf8Parser.TryParse(digits, out value, out _);
    }

    /// <summary>A non-empty b64 id of at most <see cref="MaxIdBytes"/> bytes.</summary>
    public byte[] Id()
    {
        var word = Word();
        if (word.Length > B64.EncodedLength(MaxIdBytes) || !B64.TryDecode(word, out var id) || id.Length == 0) throw Fail();
        return id;
    }

    /// <summary>A b64 SHA-256 hash or nothing (an empty field).</summary>
    public byte[] OptionalHash()
    {
        var word = Word();
        if (word.IsEmpty) return [];
        if (!B64.TryDecode(word, out var hash) || hash.Length != AgentPlaintextCodec.HashSize) throw Fail();
        return hash;
    }

    public byte[] PublicKey() => PublicKeyText.TryParseDer(Word(), out var der) ? der : throw Fail();

    public SmpQueueInfo QueueInfo() => SmpQueueInfo.TryParse(Word(), out var info) ? info! : throw Fail();

    public DateTimeOffset Timestamp() => WireText.TryParseTimestamp(Word(), out var ts) ? ts : throw Fail();

    /// <summary>Takes <paramref name="size"/> bytes after checking that they are there.</summary>
    public ReadOnlyMemory<byte> Bytes(long size, ReadOnlyMemory<byte> source)
    {
        if (size < 0 || size > _text.Length - _pos) throw Fail();
        var start = _pos;
        _pos += (int)size;
        return source.Slice(start, (int)size);
    }
}
