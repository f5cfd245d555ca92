using System.Globalization;
using System.Text;
using Smp.Protocol.Encodings;
using Smp.Protocol.Smp;

namespace Smp.Agent;

/// <summary>The agent-level messages the engine reads (agent.md §2), after decryption.</summary>
internal abstract record AgentMessage
{
    public sealed record Confirmation(byte[] SenderKey) : AgentMessage;

    /// <summary>An agent message: header plus envelope.</summary>
    public sealed record Envelope(long SndMsgId, DateTimeOffset Timestamp, byte[] PrevHash, AgentEnvelope Body) : AgentMessage;
}

internal abstract record AgentEnvelope
{
    public sealed record Hello(byte[] VerifyKey, bool NoAck) : AgentEnvelope;
    public sealed record Reply(SmpQueueInfo QueueInfo) : AgentEnvelope;
    public sealed record Msg(byte[] Body) : AgentEnvelope;
}

/// <summary>Builders of what the engine writes: envelope plaintexts and client payloads (agent.md §2, §3).</summary>
internal static class AgentWire
{
    public static readonly byte[] End = "END"u8.ToArray();
    public static readonly byte[] Ok = "OK"u8.ToArray();
    public static readonly byte[] Con = "CON"u8.ToArray();

    private static string Ts(DateTimeOffset ts) => SmpCodec.FormatTimestamp(ts);

    public static byte[] Inv(SmpQueueInfo info) => Encoding.ASCII.GetBytes("INV " + info);

    public static byte[] Sent(long id) => Encoding.ASCII.GetBytes("SENT " + id.ToString(CultureInfo.InvariantCulture));

    public static byte[] Err(string errorText) => Encoding.ASCII.GetBytes("ERR " + errorText);

    public static byte[] Down(SmpServerAddress server) => Encoding.ASCII.GetBytes("DOWN " + server);

    public static byte[] Up(SmpServerAddress server) => Encoding.ASCII.GetBytes("UP " + server);

    public static byte[] Msg(string integrity, long internalId, DateTimeOffset internalTs, byte[] brokerId, DateTimeOffset brokerTs,
        long sndId, DateTimeOffset sndTs, ReadOnlySpan<byte> body)
    {
        var head = string.Create(CultureInfo.InvariantCulture,
            $"MSG {integrity} R={internalId},{Ts(internalTs)} B={Convert.ToBase64String(brokerId)},{Ts(brokerTs)} S={sndId},{Ts(sndTs)} {body.Length}\n");
        return [.. Encoding.ASCII.GetBytes(head), .. body];
    }

    /// <summary><c>KEY rsa:&lt;b64&gt; LF LF LF</c></summary>
    public static byte[] Confirmation(byte[] senderKey) => Encoding.ASCII.GetBytes("KEY " + PublicKeyText.Format(senderKey) + "\n\n\n");

    /// <summary><c>LF sndMsgId SP timestamp SP prevHash LF envelope LF</c></summary>
    public static byte[] AgentMessageText(long sndMsgId, DateTimeOffset ts, byte[] prevHash, byte[] envelope)
    {
        var head = string.Create(CultureInfo.InvariantCulture, $"\n{sndMsgId} {Ts(ts)} {Convert.ToBase64String(prevHash)}\n");
        return [.. Encoding.ASCII.GetBytes(head), .. envelope, (byte)'\n'];
    }

    public static byte[] Hello(byte[] verifyKey) => Encoding.ASCII.GetBytes("HELLO " + PublicKeyText.Format(verifyKey));

    public static byte[] Reply(SmpQueueInfo info) => Encoding.ASCII.GetBytes("REPLY " + info);

    public static byte[] MsgEnvelope(ReadOnlySpan<byte> body) =>
        [.. Encoding.ASCII.GetBytes("MSG " + body.Length.ToString(CultureInfo.InvariantCulture) + "\n"), .. body, (byte)'\n'];

    /// <summary>Parses a decrypted plaintext; null when it is not an agent message (A_MESSAGE).</summary>
    public static AgentMessage? Parse(ReadOnlySpan<byte> p)
    {
        try
        {
            if (p.StartsWith("KEY "u8))
            {
                var rest = p[4..];
                var end = rest.IndexOf((byte)'\n');
                if (end < 0 || !rest[end..].SequenceEqual("\n\n\n"u8)) return null;
                return PublicKeyText.TryParseDer(rest[..end], out var key) ? new AgentMessage.Confirmation(key) : null;
            }
            if (p.IsEmpty || p[0] != (byte)'\n') return null;
            p = p[1..];
            var nl = p.IndexOf((byte)'\n');
            if (nl < 0) return null;
            var header = Encoding.ASCII.GetString(p[..nl]).Split(' ');
            if (header.Length != 3 || !long.TryParse(header[0], NumberStyles.None, CultureInfo.InvariantCulture, out var id)) return null;
            if (!DateTimeOffset.TryParse(header[1], CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var ts)) return null;
            byte[] prev = [];
            if (header[2].Length > 0 && !B64.TryDecode(header[2], out prev)) return null;
            var env = p[(nl + 1)..];
            AgentEnvelope? body = null;
            if (env.StartsWith("MSG "u8))
            {
                var sizeEnd = env.IndexOf((byte)'\n');
                if (sizeEnd < 5 || sizeEnd > 12) return null;
                if (!int.TryParse(Encoding.ASCII.GetString(env[4..sizeEnd]), NumberStyles.None, CultureInfo.InvariantCulture, out var size)) return null;
                var bytes = env[(sizeEnd + 1)..];
                if (bytes.Length != size + 2 || bytes[size] != (byte)'\n' || bytes[size + 1] != (byte)'\n') return null;
                body = new AgentEnvelope.Msg(bytes[..size].ToArray());
            }
            else
            {
                if (env.IsEmpty || env[^1] != (byte)'\n') return null;
                var line = Encoding.ASCII.GetString(env[..^1]);
                if (line.StartsWith("HELLO ", StringComparison.Ordinal))
                {
                    var parts = line[6..].Split(' ');
                    var noAck = parts.Length == 2 && parts[1] == "NO_ACK";
                    if ((parts.Length != 1 && !noAck) || !PublicKeyText.TryParseDer(parts[0], out var vk)) return null;
                    body = new AgentEnvelope.Hello(vk, noAck);
                }
                else if (line.StartsWith("REPLY ", StringComparison.Ordinal))
                {
                    if (!SmpQueueInfo.TryParse(line[6..], out var info)) return null;
                    body = new AgentEnvelope.Reply(info!);
                }
            }
            return body is null ? null : new AgentMessage.Envelope(id, ts, prev, body);
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
