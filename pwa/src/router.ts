// Explicit routes, each with a title key: document.title is what WeChat's browser shows as the page title.
import { createRouter, createWebHistory, type RouteLocationNormalized } from 'vue-router'
import { i18n } from './shared/i18n'
import { useSession } from './auth/session'
import { shareMode } from './shared/accessLost'

declare module 'vue-router' {
  interface RouteMeta {
    title: string // i18n key
    public?: boolean // reachable without signing in
    unbound?: boolean // reachable before identity binding
    fullscreen?: boolean // no app chrome (the viewer)
    wide?: boolean // full browser width (the doctor's desk view)
  }
}

export const router = createRouter({
  history: createWebHistory(),
  scrollBehavior: (_to, _from, saved) => saved ?? { top: 0 },
  routes: [
    { path: '/', redirect: '/timeline', meta: { title: 'titles.timeline' } },
    { path: '/login', name: 'login', component: () => import('./auth/LoginView.vue'), meta: { title: 'titles.login', public: true } },
    { path: '/bind', name: 'binding', component: () => import('./binding/BindingView.vue'), meta: { title: 'titles.binding', unbound: true } },
    { path: '/timeline', name: 'timeline', component: () => import('./timeline/TimelineView.vue'), meta: { title: 'titles.timeline' } },
    {
      path: '/people/:pid/studies/:sid',
      name: 'study',
      component: () => import('./imaging/StudyView.vue'),
      meta: { title: 'titles.study' },
    },
    { path: '/people/:pid/studies/:sid/report', name: 'report-pages', component: () => import('./imaging/ReportPagesView.vue'), meta: { title: 'titles.reportPages' } },
    { path: '/people/:pid/checkups/:cid/report', name: 'checkup-report-pages', component: () => import('./imaging/ReportPagesView.vue'), meta: { title: 'titles.checkupPages' } },
    {
      path: '/people/:pid/studies/:sid/series/:series',
      name: 'viewer',
      component: () => import('./imaging/viewer/ViewerView.vue'),
      meta: { title: 'titles.viewer', fullscreen: true },
    },
    { path: '/people/:pid/labs/:id', name: 'lab', component: () => import('./labs/LabView.vue'), meta: { title: 'titles.lab' } },
    { path: '/people/:pid/checkups/:id', name: 'checkup', component: () => import('./checkups/CheckupView.vue'), meta: { title: 'titles.checkup' } },
    // Part 2: family, sharing, access history (issue 11).
    { path: '/family', name: 'family', component: () => import('./family/FamilyView.vue'), meta: { title: 'titles.family', unbound: true } },
    { path: '/family/grants/:id', name: 'family-visibility', component: () => import('./family/VisibilityView.vue'), meta: { title: 'titles.visibility' } },
    { path: '/family/invite', name: 'family-invite', component: () => import('./family/InviteView.vue'), meta: { title: 'titles.invite' } },
    { path: '/family/request', name: 'family-request', component: () => import('./family/RequestView.vue'), meta: { title: 'titles.requestAccess', unbound: true } },
    { path: '/family/guardian', name: 'family-guardian', component: () => import('./family/GuardianView.vue'), meta: { title: 'titles.guardian', unbound: true } },
    // The invitation URL the backend generates: {public_url}/invite/{token} (backend/family/router.py).
    { path: '/invite/:token', name: 'invite-accept', component: () => import('./family/AcceptView.vue'), meta: { title: 'titles.acceptInvite', unbound: true } },
    { path: '/share/new', name: 'share-new', component: () => import('./sharing/ShareWizard.vue'), meta: { title: 'titles.shareNew' } },
    { path: '/shares', name: 'shares', component: () => import('./sharing/SharesView.vue'), meta: { title: 'titles.shares' } },
    { path: '/access', name: 'access-log', component: () => import('./access/AccessLogView.vue'), meta: { title: 'titles.access' } },
    // Doctor mode: where /s/{token} lands once the share session cookie is set (backend/sharing/web.py DOCTOR_HOME).
    { path: '/doctor', name: 'doctor', component: () => import('./doctor/DoctorView.vue'), meta: { title: 'titles.doctor', public: true, wide: true } },
    {
      path: '/doctor/people/:pid/studies/:sid/series/:series',
      name: 'doctor-viewer',
      component: () => import('./imaging/viewer/ViewerView.vue'),
      meta: { title: 'titles.viewer', public: true, fullscreen: true },
    },
    // Issue 19: the landing page of an account that sees nobody's records yet, and "access ended".
    { path: '/welcome', name: 'welcome', component: () => import('./family/LandingView.vue'), meta: { title: 'titles.welcome', unbound: true } },
    { path: '/ended/:pid', name: 'access-ended', component: () => import('./family/AccessEndedView.vue'), meta: { title: 'titles.ended', unbound: true } },
    { path: '/settings', name: 'settings', component: () => import('./settings/SettingsView.vue'), meta: { title: 'titles.settings', unbound: true } },
    { path: '/:rest(.*)*', name: 'not-found', component: () => import('./shared/NotFoundView.vue'), meta: { title: 'titles.notFound', public: true } },
  ],
})

router.beforeEach(async (to) => {
  if (to.meta.public) return true
  const session = useSession()
  try {
    await session.ensure()
  } catch {
    return true // network trouble: let the page show its own error state
  }
  if (session.state === 'signed-out') return { name: 'login', query: { next: to.fullPath } }
  // Nobody to show records for yet: the landing page (bind oneself, or the three ways to a relative's
  // records) — a relative is not pushed into identity binding (issue 19 item 4).
  if (!to.meta.unbound && session.people.length === 0) return { name: 'welcome' }
  return true
})

export function setTitle(route: RouteLocationNormalized, extra?: string) {
  const app = i18n.global.t('app.name')
  const page = i18n.global.t(route.meta.title ?? 'app.name')
  document.title = extra ? `${extra} · ${app}` : page === app ? app : `${page} · ${app}`
}

router.afterEach((to) => {
  setTitle(to)
  shareMode.value = to.path.startsWith('/doctor')
})
