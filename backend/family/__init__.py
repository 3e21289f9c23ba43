"""Family proxy access: relatives read a family member's records by consent, within limits.

The four ways to a grant, as a patient would read them:

- 邀请 Invitation — "In 云影 you create an invitation link or QR code for a family member; it works
  once within 24 hours, and when they open it in their own WeChat they can see the records you chose."
- 申请 Request — "A family member asks to see your records by entering your name and ID number; you
  get a WeChat message and decide whether to allow it — until you agree they see nothing, and they
  are never told whether you even use 云影."
- 监护 Guardian of a child — "A parent enters the child's ID number and the code sent to the phone
  the hospital has for the child, and can then see the child's records until the child turns 14; from
  14 the child confirms it in their own WeChat, and at 18 it ends."
- 代老人 Elder without a phone — "A relative enters the code sent to the elderly person's phone
  registered at the hospital and writes down that the elder agreed; the elder gets a text message
  saying so, and the access is marked as given this way."

Every grant has a scope (everything / imaging only / chosen kinds), an optional end date, and can be
ended at any time by the person (or a minor's guardian) or given up by the relative; the person can
read who looked at what in the access history.
"""
