using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using Smp.Protocol.Encodings;

namespace Smp.Protocol.Smp;

/// <summary>
/// Pure encoders and decoders of SMP commands and responses (smp-wire.md §4).
/// <code>
/// command  = "NEW" SP key / "SUB" / "KEY" SP key / "ACK" / "OFF" / "DEL"
///          / "SEND" SP size SP body SP / "PING"
///          / "IDS" SP b64 SP b64 / "MSG" SP b64 SP timestamp SP size SP body SP
///          / "END" / "OK" / "ERR" SP error / "PONG"
/// key      = "rsa:" b64(DER SubjectPublicKeyInfo)
/// </code>
/// A command is always followed by SP in a transmission; after that comes padding, which is ignored.
/// </summary>
public static class SmpCodec
{
    private static ReadOnlySpan<byte> NewKw => "NEW"u8;
    private static ReadOnlySpan<byte> SubKw => "SUB"u8;
    private static ReadOnlySpan<byte> KeyKw => "KEY"u8;
    private static ReadOnlySpan<byte> AckKw => "ACK"u8;
    private static ReadOnlySpan<byte> OffKw => "OFF"u8;
    private static ReadOnlySpan<byte> DelKw => "DEL"u8;
    private static ReadOnlySpan<byte> SendKw => "SEND"u8;
    private static ReadOnlySpan<byte> PingKw => "PING"u8;
    private static ReadOnlySpan<byte> IdsKw => "IDS"u8;
    private static ReadOnlySpan<byte> MsgKw => "MSG"u8;
    private static ReadOnlySpan<byte> EndKw => "END"u8;
    private static ReadOnlySpan<byte> OkKw => "OK"u8;
    private static ReadOnlySpan<byte> ErrKw => "ERR"u8;
    private static ReadOnlySpan<byte> PongKw => "PONG"u8;

    /// <summary>Decimal sizes longer than this cannot fit a block and are refused before any arithmetic.</summary>
    private const int MaxSizeDigits = 6;

    public const string TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";

    public static void Write(IBufferWriter<byte> w, SmpCommand command)
    {
        switch (command)
        {
            case SmpCommand.New c: w.Write(NewKw); Sp(w); PublicKeyText.Write(w, c.RecipientKey); break;
            case SmpCommand.Sub: w.Write(SubKw); break;
            case SmpCommand.Key c: w.Write(KeyKw); Sp(w); PublicKeyText.Write(w, c.SenderKey); break;
            case SmpCommand.Ack: w.Write(AckKw); break;
            case SmpCommand.Off: w.Write(OffKw); break;
            case SmpCommand.Del: w.Write(DelKw); break;
            case SmpCommand.Send c: w.Write(SendKw); Sp(w); WriteBody(w, c.Body.Span); break;
            case SmpCommand.Ping: w.Write(PingKw); break;
            case SmpCommand.Ids c: w.Write(IdsKw); Sp(w); B64.Write(w, c.RecipientId); Sp(w); B64.Write(w, c.SenderId); break;
            case SmpCommand.Msg c:
                w.Write(MsgKw); Sp(w); B64.Write(w, c.MsgId); Sp(w);
                WriteTimestamp(w, c.Timestamp); Sp(w);
                WriteBody(w, c.Body.Span);
                break;
            case SmpCommand.End: w.Write(EndKw); break;
            case SmpCommand.Ok: w.Write(OkKw); break;
            case SmpCommand.Err c: w.Write(ErrKw); Sp(w); SmpErrors.Write(w, c.Error); break;
            case SmpCommand.Pong: w.Write(PongKw); break;
            default: throw new ArgumentException("unknown command", nameof(command));
        }
    }

    public static byte[] ToBytes(SmpCommand command)
    {
        var w = new ArrayBufferWriter<byte>(64);
        Write(w, command);
        return w.WrittenSpan.ToArray();
    }

    /// <summary><see cref="TimestampFormat"/> written as UTF-8 straight into the writer (no string on the way).</summary>
    public static void WriteTimestamp(IBufferWriter<byte> w, DateTimeOffset ts)
    {
        var span = w.GetSpan(32);
        if (!ts.UtcDateTime.TryFormat(span, out var n, TimestampFormat, CultureInfo.InvariantCulture)) throw new FormatException("timestamp does not format");
        w.Advance(n);
    }

    public static string FormatTimestamp(DateTimeOffset ts) => ts.UtcDateTime.ToString(TimestampFormat, CultureInfo.InvariantCulture);

    /// <summary>
    /// Parses one command at the start of <paramref name="text"/>, which must be followed by SP (the
    /// transmission's trailing space); anything after that SP is padding. Throws CMD SYNTAX.
    /// </summary>
    public static SmpCommand Parse(ReadOnlySpan<byte> text, ReadOnlyMemory<byte> source = default)
    {
        var r = new Reader(text);
        SmpCommand command;
        if (r.Keyword(NewKw)) { r.Sp(); command = new SmpCommand.New(r.Key()); }
        else if (r.Keyword(SubKw)) command = SmpCommand.SubCommand;
        else if (r.Keyword(KeyKw)) { r.Sp(); command = new SmpCommand.Key(r.Key()); }
        else if (r.Keyword(AckKw)) command = SmpCommand.AckCommand;
        else if (r.Keyword(OffKw)) command = SmpCommand.OffCommand;
        else if (r.Keyword(DelKw)) command = SmpCommand.DelCommand;
        else if (r.Keyword(SendKw)) { r.Sp(); command = new SmpCommand.Send(r.Body(source)); }
        else if (r.Keyword(PingKw)) command = SmpCommand.PingCommand;
        else if (r.Keyword(IdsKw))
        {
            r.Sp();
            var rid = r.Base64();
            r.Sp();
            command = new SmpCommand.Ids(rid, r.Base64());
        }
        else if (r.Keyword(MsgKw))
        {
            r.Sp();
            var id = r.Base64();
            r.Sp();
            var ts = r.Timestamp();
            r.Sp();
            command = new SmpCommand.Msg(id, ts, r.Body(source));
        }
        else if (r.Keyword(EndKw)) command = SmpCommand.EndResponse;
        else if (r.Keyword(OkKw)) command = SmpCommand.OkResponse;
        else if (r.Keyword(ErrKw)) { r.Sp(); command = new SmpCommand.Err(r.Error()); }
        else if (r.Keyword(PongKw)) command = SmpCommand.PongResponse;
        else throw Syntax();
        r.Sp();
        return command;
    }

    private static void Sp(IBufferWriter<byte> w) => w.Write(" "u8);

    /// <summary><c>size SP body SP</c>: the SP after the body belongs to the command.</summary>
    private static void WriteBody(IBufferWriter<byte> w, ReadOnlySpan<byte> body)
    {
        var span = w.GetSpan(11);
        Utf8Formatter.TryFormat(body.Length, span, out var n);
        w.Advance(n);
        Sp(w);
        w.Write(body);
        Sp(w);
    }

    private static SmpProtocolException Syntax() => new(SmpErrorCode.CmdSyntax);

    /// <summary>A cursor over the command text; every failure is CMD SYNTAX.</summary>
    private ref struct Reader(ReadOnlySpan<byte> text)
    {
        private readonly ReadOnlySpan<byte> _text = text;
        private int _pos;

        /// <summary>Matches a keyword followed by SP or the end of the text (the SP is not consumed).</summary>
        public bool Keyword(ReadOnlySpan<byte> kw)
        {
            var rest = _text[_pos..];
            if (!rest.StartsWith(kw) || (rest.Length > kw.Length && rest[kw.Length] != (byte)' ')) return false;
            _pos += kw.Length;
            return true;
        }

        public void Sp()
        {
            if (_pos >= _text.Length || _text[_pos] != (byte)' ') throw Syntax();
            _pos++;
        }

        private ReadOnlySpan<byte> Word()
        {
            var rest = _text[_pos..];
            var end = rest.IndexOf((byte)' ');
            if (end < 0) end = rest.Length;
            _pos += end;
            return rest[..end];
        }

        public byte[] Key() => PublicKeyText.TryParseDer(Word(), out var der) ? der : throw Syntax();

        public byte[] Base64() => B64.TryDecode(Word(), out var bytes) ? bytes : throw Syntax();

        public SmpErrorCode Error()
        {
            if (!SmpErrors.TryParse(_text[_pos..], out var code, out var n)) throw Syntax();
            _pos += n;
            return code;
        }

        public DateTimeOffset Timestamp()
        {
            var word = Word();
            if (word.Length > 40) throw Syntax();
            var s = System.Text.Encoding.ASCII.GetString(word);
            return DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var ts) && s.EndsWith('Z')
                ? ts
                : throw Syntax();
        }

        /// <summary><c>size SP body</c>; the size is checked against what is left before the body is taken.</summary>
        public ReadOnlyMemory<byte> Body(ReadOnlyMemory<byte> source)
        {
            var digits = Word();
            if (digits.IsEmpty || digits.Length > MaxSizeDigits) throw Syntax();
            foreach (var d in digits) if (d is < (byte)'0' or > (byte)'9') throw Syntax();
            Utf8Parser.TryParse(digits, out int size, out _);
            Sp();
            if (size > _text.Length - _pos) throw Syntax();
            var start = _pos;
            _pos += size;
            return source.IsEmpty ? _text.Slice(start, size).ToArray() : source.Slice(start, size);
        }
    }
}
