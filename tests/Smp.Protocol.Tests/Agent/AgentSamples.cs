using Smp.Protocol.Agent;
using Smp.Protocol.Encodings;

namespace Smp.Protocol.Tests.Agent;

/// <summary>Fixed values for the agent codec tests, taken from the reference vectors where possible.</summary>
internal static class AgentSamples
{
    public static readonly DateTimeOffset Ts = new(2026, 11, 24, 5, 55, 52, 472, TimeSpan.Zero);

    public static readonly SmpQueueInfo Queue = Parse(
        "smp::localhost:45453#QzXnXHURgdMZH/3nz/SqJEAExqxR8ipA5/cERkSE/Sc=::gNJGjZUQuk+LA+EV::rsa:" + KeyB64);

    public static readonly SmpQueueInfo OtherQueue = Parse("smp::example.org::AQIDBAUGBwgJCgsM::rsa:" + KeyB64);

    public static byte[] Key => Convert.FromBase64String(KeyB64);

    public static byte[] Bytes(int length, byte seed) => Enumerable.Range(0, length).Select(i => (byte)(seed + i)).ToArray();

    public static byte[] HashOf(string s) => AgentPlaintextCodec.Hash(System.Text.Encoding.ASCII.GetBytes(s));

    /// <summary>Every envelope kind, with binary bodies that hold line ends.</summary>
    public static IEnumerable<AgentEnvelope> AllEnvelopes()
    {
        var body = new byte[] { 0, 10, 13, 10, 255, 32 };
        yield return new AgentEnvelope.Hello(Key);
        yield return new AgentEnvelope.Hello(Key, NoAck: true);
        yield return new AgentEnvelope.Reply(Queue);
        yield return new AgentEnvelope.Msg(body);
        yield return new AgentEnvelope.Msg(Array.Empty<byte>());
        yield return new AgentEnvelope.GInv(Bytes(12, 1), Bytes(32, 2), Bytes(16, 3), 2, Queue, "group \n info"u8.ToArray());
        yield return new AgentEnvelope.GJoin(Bytes(12, 1), Bytes(16, 3));
        yield return new AgentEnvelope.GMem(Bytes(12, 4), Bytes(16, 5), 0);
        yield return new AgentEnvelope.GInvMem(Bytes(12, 4), Queue, OtherQueue);
        yield return new AgentEnvelope.GMemInv(Bytes(12, 4), Bytes(16, 3), 1, Queue, OtherQueue);
        yield return new AgentEnvelope.GHello(Bytes(16, 3));
        yield return new AgentEnvelope.GCon(Bytes(12, 4));
        foreach (var reason in Enum.GetValues<GroupAddErrorReason>())
            yield return new AgentEnvelope.GAddErr(Bytes(12, 4), reason);
        yield return new AgentEnvelope.GAll();
        yield return new AgentEnvelope.GMsg(Bytes(12, 6), 1, [], body);
        yield return new AgentEnvelope.GMsg(Bytes(12, 7), 42, HashOf("previous"), "hi"u8.ToArray());
        yield return new AgentEnvelope.GLeft();
        yield return new AgentEnvelope.GMDel(Bytes(16, 3));
        yield return new AgentEnvelope.GMDeleted(Bytes(16, 3));
        yield return new AgentEnvelope.GDel();
        yield return new AgentEnvelope.GReject(Bytes(12, 4));
        yield return new AgentEnvelope.GView([]);
        yield return new AgentEnvelope.GView([new(Bytes(16, 1), MemberViewState.Connected), new(Bytes(16, 2), MemberViewState.Pending),
            new(Bytes(16, 3), MemberViewState.Left), new(Bytes(16, 4), MemberViewState.Removed)]);
        yield return new AgentEnvelope.GInfo("Alice \n\u00e9"u8.ToArray());
        yield return new AgentEnvelope.GInfo(body);
        yield return new AgentEnvelope.GInfo(Array.Empty<byte>());
        yield return new AgentEnvelope.GFwd(Bytes(16, 3), Ts, new AgentEnvelope.GMsg(Bytes(12, 6), 1, [], body));
        yield return new AgentEnvelope.GFwd(Bytes(64, 3), Ts, new AgentEnvelope.GMsg(Bytes(12, 7), 42, HashOf("previous"), "hi"u8.ToArray()));
        yield return new AgentEnvelope.GHist(Bytes(16, 3), Ts, new AgentEnvelope.GMsg(Bytes(12, 6), 1, [], body));
        yield return new AgentEnvelope.GHist(Bytes(16, 5), Ts, new AgentEnvelope.GMsg(Bytes(12, 7), 42, HashOf("previous"), Array.Empty<byte>()));
        yield return new AgentEnvelope.GHead([new(Bytes(16, 3), 0, [])]);
        yield return new AgentEnvelope.GHead([new(Bytes(64, 3), 42, HashOf("previous")), new(Bytes(16, 5), 0, []), new(Bytes(16, 6), 1, HashOf("p"))]);
    }

    private const string KeyB64 =
        "MIIBoTANBgkqhkiG9w0BAQEFAAOCAY4AMIIBiQKCAQEAnvB0nWWHhIJJTT3VWKSO0zCeKiCK5DOY0++3Z5nRu0JS9G7Odwuc67SwZucqeaDjyV3ysFOTtqa9jeLrE4efD+TL5e2JHsmG8ZTOsS+sO9A60aakFrpvpjd1FkYobu7D67jFCRmtvV+J9qUsDPk+fO7MA0PhDL2L7UrdTI5S8+fhJQoCuvPtNX2m14dRXArJAF+9mcfVNfeqZYieS56mwbY4cc4q7GFB2kwgNm1XiTMxSzKTS1VfBz0jeqBqlqYgFa5JVJn2dG3ptzo3Vp8XQkiY6PEli0FnlEzzujTPSXQcd/HNJc87vvNeLcohcMcjvGDl96MOVtkJYTCNANhNqQKBgQDIPvJ2PlqZ2qil+Qw2C29snH8tJ58LWCAkV3vqqJzYKRz0m6+XYTO4XZTY19E98EdlpgaNhDOzdCPbRg6qK9gg+74Men5zBoWH6XWivNpTWD2cm91IzgwRIXfsruXZyP7g+aA4piudtApX4hXiNcOOeUEJwXTvgjjn97/dojIhVw==";

    private static SmpQueueInfo Parse(string text) => SmpQueueInfo.TryParse(text, out var q) ? q! : throw new FormatException(text);
}
