import type zh from './zh-CN'

const en: typeof zh = {
  app: { name: 'Yunying', tagline: 'My imaging and health records' },
  common: {
    back: 'Back', retry: 'Retry', loading: 'Loading…', loadFailed: 'Could not load', offline: 'No connection. Check your network and try again.',
    noMore: 'No more records', refresh: 'Pull to refresh', refreshing: 'Refreshing…', releaseToRefresh: 'Release to refresh', cancel: 'Cancel', confirm: 'OK',
    close: 'Close', all: 'All', unknown: 'Unknown', download: 'Download',
  },
  titles: {
    login: 'Sign in', binding: 'Verify identity', timeline: 'My records', study: 'Study', viewer: 'Images', lab: 'Lab result',
    checkup: 'Checkup', settings: 'Settings', notFound: 'Not found',
  },
  auth: {
    welcome: 'Your scans and reports, wherever you are',
    points: ['Studies and reports from every hospital on one timeline', 'CT and MRI that scroll smoothly on your phone', 'Report PDFs in one tap'],
    loginWechat: 'Sign in with WeChat',
    note: 'By signing in you agree to the Terms and the Privacy Policy',
    expired: 'Your session has expired. Please sign in again.',
  },
  binding: {
    intro: 'First time here? Verify who you are: we send a code to the phone number your hospital registered.',
    name: 'Name', namePh: 'As on your ID card', rid: 'Resident ID', ridPh: '18 characters',
    ridInvalid: 'This ID number fails its check digit. Please check it.', ridValid: 'ID number looks valid', nameRequired: 'Please enter your name',
    sendCode: 'Send code', resend: 'Send again', resendIn: 'Resend in {n} s',
    codeSent: 'Code sent to {phone}', code: 'Code', codePh: '6 digits',
    consentTitle: 'Consent to process personal information',
    consentText: [
      'To show you your imaging and health records, Yunying processes your name, resident ID, phone number and the images, reports, lab results and checkups your hospitals upload (sensitive personal information).',
      'They are shown only to you and the relatives and doctors you authorise, used for no other purpose and not given to third parties unless the law requires it.',
      'Data is stored encrypted; every view is recorded in the access log, which you can read at any time.',
      'You can withdraw consent at any time in Settings: your account is then unbound and family access and share links stop working.',
    ],
    consentCheck: 'I have read and agree to the consent above, including the processing of my sensitive personal information',
    consentRequired: 'Please read and tick the consent first',
    submit: 'Verify and bind', success: 'Identity verified',
    errors: {
      'otp-invalid': 'Wrong or expired code', 'otp-locked': 'Too many attempts: request a new code', 'otp-rate-limited': 'Codes requested too often. Try again later.',
      'otp-malformed': 'The code has 6 digits', 'resident-id-invalid': 'This ID number is not valid. Please check it.', 'name-invalid': 'Please enter your name',
      'guardian-required': 'Under 14: a guardian binds for you', 'already-bound': 'This WeChat account is already bound', 'person-already-bound': 'This person is bound to another WeChat account. Contact your hospital if this is wrong.',
      'sms-unavailable': 'Text messages are unavailable right now. Try again later.', 'consent-required': 'The consent text has changed: please read and tick it again', 'rate-limited': 'Too many attempts. Try again later.',
    },
  },
  kinds: { imaging_study: 'Imaging', lab_result: 'Lab', checkup: 'Checkup', other: 'Other' },
  timeline: {
    title: 'My records', hospital: 'Hospital', allHospitals: 'All hospitals', emptyTitle: 'No records yet',
    emptyText: 'Studies and reports appear here once a hospital uploads them.', emptyFiltered: 'No records match these filters', clearFilters: 'Clear filters',
    errorTitle: 'Could not load records', yearCount: '{n} records', person: 'Viewing', abnormal: '{n} abnormal',
  },
  study: {
    report: 'Report', findings: 'Findings', impression: 'Impression', noReport: 'The report is not available yet', series: 'Series',
    seriesItem: 'Series {n}', frames: '{n} images', openViewer: 'View images', pdf: 'Download report PDF', status: { final: 'Final', preliminary: 'Preliminary', amended: 'Amended' },
    priors: 'Compare with earlier',
  },
  viewer: {
    slice: 'Image {i} of {n}', window: 'Window', presets: { auto: 'Default', lung: 'Lung', mediastinum: 'Mediastinum', bone: 'Bone', brain: 'Brain', abdomen: 'Abdomen' },
    custom: 'Custom', wlMode: 'Adjust', wlModeOn: 'Drag to adjust: sideways = width, up/down = level', play: 'Play', pause: 'Pause', grid: 'All images',
    seriesSwitch: 'Switch series', fit: 'Fit to screen', close: 'Close', prev: 'Previous image', next: 'Next image', position: 'Position {mm} mm',
    noImages: 'This series has no images to show', compare: 'Compare with an earlier study', compareOff: 'End comparison', current: 'Now', prior: 'Earlier', scrollbar: 'Image position', image: 'Medical image, {series}, image {i} of {n}', gridOpen: 'Open image {i}',
  },
  labs: {
    item: 'Test', result: 'Result', ref: 'Reference', flag: { H: 'High', L: 'Low', HH: 'Critically high', LL: 'Critically low', critical: 'Critical', A: 'Abnormal', N: 'Normal' },
    loadingTrend: 'Loading trend…',
    trend: 'Trend', trendOf: '{name}: results over time', noTrend: 'Only one result so far: no trend yet',
  },
  checkups: { conclusion: 'Summary', recommendations: 'Advice', section: 'Examinations', labs: 'Lab panels', abnormal: '{n} abnormal' },
  settings: {
    language: 'Language', largeText: 'Large text', largeTextHint: 'Bigger text and buttons everywhere', account: 'Account', person: 'Bound to',
    notBound: 'Not bound', logout: 'Sign out', logoutConfirm: 'Sign out now?', withdraw: 'Withdraw consent and unbind',
    withdrawConfirm: 'Your account will be unbound from your records; family access and share links stop working. Withdraw consent?', withdrawn: 'Consent withdrawn',
    about: 'About Yunying', version: 'Version',
  },
  notFound: { text: 'This page does not exist', home: 'Go home' },
}
export default en
