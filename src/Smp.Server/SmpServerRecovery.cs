namespace Smp.Server;

/// <summary>
/// What start-up found in the data directory and could not use (docs/protocol/smp.md §11). All zero and
/// no files on a clean start.
/// </summary>
/// <param name="UnreadableRecords">Lines that are not records, in any file; cut-off last lines are not counted here.</param>
/// <param name="TornRecords">Last lines cut off mid-write, by a crash. Their commands were never answered.</param>
/// <param name="QueuesNotRestored">Queues that existed but could not be restored: a CREATE line that could not be read, or a queue that messages, SECURE or OFF records name but the store log does not have.</param>
/// <param name="MessagesNotRestored">Unexpired messages that could not be restored: unreadable MSG lines, and messages of lost queues.</param>
/// <param name="Files">Each file that had something unreadable, and where it was kept aside.</param>
public sealed record SmpServerRecovery(int UnreadableRecords, int TornRecords, int QueuesNotRestored, long MessagesNotRestored, IReadOnlyList<SmpServerDamagedFile> Files)
{
    public static readonly SmpServerRecovery Clean = new(0, 0, 0, 0, []);

    /// <summary>True when a record could not be read or a queue or message could not be restored (a cut-off last record alone is no damage).</summary>
    public bool FoundDamage => UnreadableRecords > 0 || QueuesNotRestored > 0 || MessagesNotRestored > 0;
}

/// <summary>A store log, suspension log, journal or snapshot that was kept aside at start, as it was found.</summary>
/// <param name="Path">Where the file was.</param>
/// <param name="KeptAsidePath">The copy or renamed original, <c>&lt;name&gt;.damaged-&lt;UTC time&gt;</c>, beside it.</param>
public sealed record SmpServerDamagedFile(string Path, string KeptAsidePath, int UnreadableRecords, bool TornLastRecord, long MessagesNotRestored);
