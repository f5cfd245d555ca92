using System.Globalization;
using System.Text;
using Smp.Protocol.Agent;
using Smp.Protocol.Encodings;
using Smp.Protocol.Smp;

namespace Smp.Agent;

/// <summary>Builders of what the engine writes: client payloads and plaintexts (agent.md §2, §3).</summary>
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

    /// <summary>A group notification without a body: <c>GCON alias</c>, <c>GEMPTY</c>, ...</summary>
    public static byte[] GroupEvent(string text) => Encoding.ASCII.GetBytes(text);

    /// <summary>A notification ending in a body, framed as MSG's: <c>text SP size LF bytes</c>.</summary>
    public static byte[] WithBody(string text, ReadOnlySpan<byte> body) =>
        [.. Encoding.ASCII.GetBytes(text + " " + body.Length.ToString(CultureInfo.InvariantCulture) + "\n"), .. body];

    public static byte[] GroupInvitation(byte[] invId, ReadOnlySpan<byte> info) => WithBody("GINV " + Convert.ToBase64String(invId), info);

    /// <summary>The plaintext of an unchained envelope (HELLO, REPLY): id 0, empty hash (agent.md §2).</summary>
    public static byte[] Unchained(AgentEnvelope envelope) =>
        AgentPlaintextCodec.Encode(AgentPlaintext.Message.Unchained(DateTimeOffset.UtcNow, envelope));

    public static byte[] Confirmation(byte[] senderKey) => AgentPlaintextCodec.Encode(new AgentPlaintext.Confirmation(senderKey));
}
