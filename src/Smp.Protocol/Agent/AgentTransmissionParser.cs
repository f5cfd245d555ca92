using System.Buffers;

namespace Smp.Protocol.Agent;

public enum AgentReadStatus
{
    /// <summary>No whole transmission yet: advance the pipe to (consumed, examined) and read more.</summary>
    NeedMoreData = 0,
    /// <summary>One transmission (or its error) is ready; call again on the rest of the buffer.</summary>
    Transmission = 1,
}

/// <summary>
/// Incremental reader of client-protocol transmissions (agent.md §3):
/// <code>
/// transmission = corrId EOL alias EOL command EOL [bytes EOL]   ; bytes only after a sized body
/// EOL          = LF                                             ; one CR before it is stripped
/// </code>
/// One parser per stream, reading what <see cref="Sender"/> sends: the agent reads Client commands, a client
/// reads Agent events (with <c>skipWelcomeLine</c>). Each call consumes what it can and keeps between calls
/// only the finished lines of the transmission in progress (corrId and alias, at most 64 bytes each) and what
/// remains to be skipped, so no line or body is held beyond its limit.
/// <para>
/// Errors, checked in this order (the first wins):
/// a corrId that is not *64(%x21-7E) → CMD SYNTAX; a command line over the limit → CMD LARGE;
/// an unparsable command line → CMD SYNTAX; a malformed size → CMD SIZE; a size over the limit → CMD LARGE;
/// bytes not followed by EOL → CMD SIZE; a command of the other party → CMD PROHIBITED;
/// an alias that is not <see cref="AgentAlias"/> → CMD SYNTAX; an empty alias where one is needed → CMD NO_CONN.
/// </para>
/// <para>
/// Recovery, so that a bad transmission never swallows the next one: an over-long line is skipped to its LF
/// unread; a malformed size ends the transmission at that line (no bytes are expected); a size over the
/// limit is skipped as that many bytes, then to the next LF; bytes not followed by EOL are answered at once
/// and the rest of that line is skipped. A command of the other party is read with its body, then refused.
/// </para>
/// </summary>
public sealed class AgentTransmissionParser
{
    /// <summary>Buffering bound for the corrId and alias lines; valid ones are at most 64 bytes.</summary>
    private const int MaxShortLineLength = 256;

    private enum Phase { CorrId, Alias, Command, Body, Skip }

    private enum LineResult { Line, NeedMoreData, TooLong }

    private Phase _phase;
    private string _corrId = "";
    private byte[] _alias = [];
    private AgentError? _error;
    private AgentCommand? _pending;
    private int _bodySize;
    private long _skipBytes;
    private bool _skipToLf;
    private Phase _afterSkip;

    public AgentTransmissionParser(AgentParty sender, AgentTransmissionLimits? limits = null, bool skipWelcomeLine = false)
    {
        Sender = sender;
        Limits = limits ?? AgentTransmissionLimits.Default;
        if (skipWelcomeLine) StartSkip(0, toLf: true, then: Phase.CorrId);
    }

    /// <summary>The party whose transmissions this parser reads; commands of the other party are PROHIBITED.</summary>
    public AgentParty Sender { get; }

    public AgentTransmissionLimits Limits { get; }

    /// <summary>
    /// Reads at most one transmission from the start of <paramref name="buffer"/>. Bytes before
    /// <paramref name="consumed"/> are used up (stored or skipped); <paramref name="examined"/> is
    /// <paramref name="buffer"/>'s end when more data is needed. Never throws on any input.
    /// </summary>
    public AgentReadStatus TryRead(ReadOnlySequence<byte> buffer, out SequencePosition consumed, out SequencePosition examined,
        out AgentTransmission? transmission)
    {
        var reader = new SequenceReader<byte>(buffer);
        transmission = null;
        while (transmission is null)
        {
            if (!Step(ref reader, out transmission))
            {
                consumed = reader.Position;
                examined = buffer.End;
                return AgentReadStatus.NeedMoreData;
            }
        }
        consumed = reader.Position;
        examined = reader.Position;
        return AgentReadStatus.Transmission;
    }

    /// <summary>Advances one phase; false when the buffer ran out.</summary>
    private bool Step(ref SequenceReader<byte> reader, out AgentTransmission? transmission)
    {
        transmission = null;
        switch (_phase)
        {
            case Phase.Skip:
                return SkipStep(ref reader);

            case Phase.CorrId:
                switch (ReadLine(ref reader, MaxShortLineLength, out var corrLine))
                {
                    case LineResult.NeedMoreData: return false;
                    case LineResult.TooLong: _error ??= Syntax; break;
                    default:
                        if (AgentTransmissionCodec.IsValidCorrId(corrLine)) _corrId = WireText.Ascii(corrLine);
                        else _error ??= Syntax;
                        break;
                }
                return Next(Phase.Alias);

            case Phase.Alias:
                switch (ReadLine(ref reader, MaxShortLineLength, out var aliasLine))
                {
                    case LineResult.NeedMoreData: return false;
                    // Not empty and never valid: refused as an invalid alias once the command is known.
                    case LineResult.TooLong: _alias = [(byte)' ']; break;
                    default: _alias = aliasLine.ToArray(); break;
                }
                return Next(Phase.Command);

            case Phase.Command:
                switch (ReadLine(ref reader, Limits.MaxCommandLineLength, out var commandLine))
                {
                    case LineResult.NeedMoreData: return false;
                    case LineResult.TooLong:
                        transmission = Finish(null, AgentError.Of(AgentErrorCode.CmdLarge));
                        return true;
                }
                try
                {
                    var command = AgentCommandCodec.ParseLine(commandLine.ToArray(), out var bodySize);
                    if (bodySize is not { } size)
                    {
                        transmission = Finish(command, null);
                    }
                    else if (size > Limits.MaxBodySize)
                    {
                        transmission = Finish(null, AgentError.Of(AgentErrorCode.CmdLarge));
                        StartSkip(size, toLf: true, then: Phase.CorrId);
                    }
                    else
                    {
                        _pending = command;
                        _bodySize = size;
                        _phase = Phase.Body;
                    }
                }
                catch (AgentProtocolException e)
                {
                    transmission = Finish(null, e.Error);
                }
                return true;

            case Phase.Body:
                return BodyStep(ref reader, out transmission);

            default:
                throw new InvalidOperationException("unknown phase");
        }
    }

    /// <summary>Takes the bytes and their EOL together, so that the body is never half consumed.</summary>
    private bool BodyStep(ref SequenceReader<byte> reader, out AgentTransmission? transmission)
    {
        transmission = null;
        if (reader.Remaining < _bodySize + 1) return false;
        var rest = reader.UnreadSequence;
        var after = rest.Slice(_bodySize);
        var first = after.FirstSpan[0];
        var eolLength = 0;
        if (first == (byte)'\n') eolLength = 1;
        else if (first == (byte)'\r')
        {
            if (after.Length < 2) return false;
            if (after.Slice(1, 1).FirstSpan[0] == (byte)'\n') eolLength = 2;
        }
        var body = rest.Slice(0, _bodySize).ToArray();
        reader.Advance(_bodySize);
        var command = _pending!.WithBody(body);
        if (eolLength == 0)
        {
            transmission = Finish(null, AgentError.Of(AgentErrorCode.CmdSize));
            StartSkip(0, toLf: true, then: Phase.CorrId);
            return true;
        }
        reader.Advance(eolLength);
        transmission = Finish(command, null);
        return true;
    }

    private bool SkipStep(ref SequenceReader<byte> reader)
    {
        if (_skipBytes > 0)
        {
            var n = Math.Min(_skipBytes, reader.Remaining);
            reader.Advance(n);
            _skipBytes -= n;
            if (_skipBytes > 0) return false;
        }
        if (_skipToLf)
        {
            if (!reader.TryAdvanceTo((byte)'\n'))
            {
                reader.AdvanceToEnd();
                return false;
            }
            _skipToLf = false;
        }
        _phase = _afterSkip;
        return true;
    }

    private bool Next(Phase phase)
    {
        // A line read as too long may have left the rest of itself to skip; the skip then leads to phase.
        if (_phase == Phase.Skip) _afterSkip = phase;
        else _phase = phase;
        return true;
    }

    private void StartSkip(long bytes, bool toLf, Phase then)
    {
        _skipBytes = bytes;
        _skipToLf = toLf;
        _afterSkip = then;
        _phase = Phase.Skip;
    }

    /// <summary>
    /// A line up to LF with one CR before it stripped. A line longer than <paramref name="limit"/> is
    /// TooLong: consumed if its LF is here, otherwise consumed as far as it goes with the rest set to skip.
    /// </summary>
    private LineResult ReadLine(ref SequenceReader<byte> reader, int limit, out ReadOnlySpan<byte> line)
    {
        line = default;
        // Search only as far as the longest allowed line could reach: limit bytes, a CR and the LF.
        var window = reader.UnreadSequence;
        if (window.Length > limit + 2L) window = window.Slice(0, limit + 2L);
        var lf = window.PositionOf((byte)'\n');
        if (lf is null)
        {
            if (window.Length < limit + 2L) return LineResult.NeedMoreData;
            reader.Advance(window.Length);
            StartSkip(0, toLf: true, then: _phase);
            return LineResult.TooLong;
        }
        var raw = window.Slice(0, lf.Value);
        reader.Advance(raw.Length + 1);
        var bytes = raw.IsSingleSegment ? raw.FirstSpan : raw.ToArray();
        if (bytes.Length > 0 && bytes[^1] == (byte)'\r') bytes = bytes[..^1];
        if (bytes.Length > limit) return LineResult.TooLong;
        line = bytes;
        return LineResult.Line;
    }

    private AgentTransmission Finish(AgentCommand? command, AgentError? error)
    {
        var aliasEmpty = _alias.Length == 0;
        var aliasValid = !aliasEmpty && AgentAlias.IsValid(_alias);
        error = _error ?? error;
        if (error is null && command is not null)
        {
            if (command.Party != Sender) error = AgentError.Of(AgentErrorCode.CmdProhibited);
            else if (!aliasEmpty && !aliasValid) error = Syntax;
            else if (aliasEmpty && !command.AllowsEmptyAlias) error = AgentError.Of(AgentErrorCode.CmdNoConn);
        }
        var result = new AgentTransmission(_corrId, aliasValid ? WireText.Ascii(_alias) : "", error is null ? command : null, error);
        _corrId = "";
        _alias = [];
        _error = null;
        _pending = null;
        _bodySize = 0;
        if (_phase != Phase.Skip) _phase = Phase.CorrId;
        else _afterSkip = Phase.CorrId;
        return result;
    }

    private static AgentError Syntax => AgentError.Of(AgentErrorCode.CmdSyntax);
}
